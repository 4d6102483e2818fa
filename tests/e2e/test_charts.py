"""The charts in a browser (issue 21): the event page's registrations per day and the
dashboard's seats filled fit a phone and a laptop, say themselves in words, open their
numbers, and axe finds nothing serious on either page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete
from sqlalchemy.orm import Session

from portal.db import run_unit_of_work, utcnow
from portal.models import Event, EventStatus, Registration, RegistrationStatus
from portal.registrations.participants import new_token
from tests.e2e.conftest import DEVICES, ORGANISER_EMAIL, ORGANISER_PASSWORD, LiveSite
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journeys import assert_fits_the_screen

pytestmark = pytest.mark.browser

SLUG = "chart-workshop"
TITLE = "Workshop on Charting Registrations"
DAYS = 34
S = RegistrationStatus


def _seed(session: Session) -> None:
    """A draft (the public listings stay as they were) with 40 seats and registrations on
    each of 34 days, noon in Singapore, some of them cancelled since."""
    now = utcnow().replace(microsecond=0)
    starts = (now + timedelta(days=20)).replace(hour=1, minute=0, second=0)
    event = Event(
        slug=SLUG, title=TITLE, category="workshop", starts_at=starts, ends_at=starts + timedelta(hours=8),
        timezone="Asia/Singapore", venue="RSIS", address="", status=EventStatus.DRAFT, capacity=40, waitlist=True,
    )
    session.add(event)
    session.flush()
    first = (now - timedelta(days=DAYS)).replace(hour=4, minute=0, second=0)
    n = 0
    for day in range(DAYS):
        for _ in range(1 + day % 3):
            when = first + timedelta(days=day, minutes=n)
            status = S.CANCELLED if n % 5 == 4 else S.CONFIRMED
            session.add(Registration(
                event_id=event.id, email=f"chart{n}@demo.example.org", name=f"Chart Person {n}", organisation="",
                answers={}, status=status, token=new_token(), consented_at=when, created_at=when, updated_at=when,
                confirmed_at=when if status == S.CONFIRMED else None,
            ))
            n += 1


def _unseed(session: Session) -> None:
    event_id = session.query(Event.id).filter_by(slug=SLUG).scalar()
    session.execute(delete(Registration).where(Registration.event_id == event_id))
    session.execute(delete(Event).where(Event.id == event_id))


@pytest.fixture(scope="module")
def workshop(live: LiveSite) -> Iterator[str]:
    run_unit_of_work(live.sessions, _seed, write=True)
    yield SLUG
    run_unit_of_work(live.sessions, _unseed, write=True)


def _inside_the_window(page: Page, selector: str) -> bool:
    return bool(page.locator(selector).first.evaluate(
        "el => { const r = el.getBoundingClientRect(); return r.width > 100 && r.left >= 0 && r.right <= window.innerWidth; }"
    ))


def test_the_charts_fit_the_screen_and_say_what_they_draw(page: Page, live: LiveSite, device: str, workshop: str) -> None:
    audit = Audit(page, device)
    page.goto("/admin/sign-in")
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # The dashboard: a bar per upcoming event, named in words.
    bar = page.get_by_role("img", name=TITLE)
    expect(bar).to_be_visible()
    assert _inside_the_window(page, f"svg[aria-labelledby='seats-{SLUG}-title seats-{SLUG}-desc']")
    assert_fits_the_screen(page, device)
    audit.check("dashboard")

    page.goto(f"/admin/events/{workshop}")
    chart = page.get_by_role("img", name="Registrations per day and in all, against capacity")
    expect(chart).to_be_visible()
    assert _inside_the_window(page, "svg.chart-svg")
    expect(page.locator("#chart-desc")).to_contain_text(f"over {DAYS} days; 40 seats; registrations made reached the 40 seats on")
    expect(page.locator("svg.chart-svg text.chart-capacity-label")).to_have_text("Capacity 40")
    # Date labels under the axis never overlap, at either width.
    boxes = [b for b in (t.bounding_box() for t in page.locator("svg.chart-svg text.chart-tick[y='322']").all()) if b]
    assert 2 <= len(boxes) <= 6
    assert all(a["x"] + a["width"] <= b["x"] for a, b in pairwise(boxes))
    assert_fits_the_screen(page, device)

    page.get_by_text("The numbers").click()
    numbers = page.locator("details.chart-numbers table")
    expect(numbers).to_be_visible()
    expect(numbers.locator("tbody tr")).to_have_count(DAYS)
    expect(numbers.locator("tfoot")).to_contain_text("Confirmed now")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= DEVICES[device]["viewport"]["width"]
    audit.check("event page with its chart and numbers open")
    audit.assert_clean()

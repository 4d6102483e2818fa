"""The back office's widest pages fit the screen (issue 21): the roster of an event the size of
the demo's, with "Checked in" in view on a laptop and each registration a card on a phone;
the outbox and the programmes on a phone; axe finds nothing serious on them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete
from sqlalchemy.orm import Session

from portal.db import run_unit_of_work, utcnow
from portal.demo import _FIRST, _LAST, _ORGS
from portal.models import Event, EventStatus, MessageStatus, OutboxMessage, Registration, RegistrationStatus
from portal.registrations.participants import new_token
from tests.e2e.conftest import DEVICES, ORGANISER_EMAIL, ORGANISER_PASSWORD, LiveSite
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journeys import assert_fits_the_screen

pytestmark = pytest.mark.browser

SLUG = "roster-fit-course"
LONG_ADDRESS = "a.very.long.address.of.a.programme.officer@directorate-general.example.org"
S = RegistrationStatus


def _seed(session: Session) -> None:
    """A draft (so the public listings do not change) with the demo's people, sixty of them
    in every state, some checked in, one with a long name and organisation; and a failed
    message with a long address and error for the outbox."""
    now = utcnow().replace(microsecond=0)
    starts = (now + timedelta(days=2)).replace(hour=1, minute=0, second=0)  # 09:00 to 17:00 in Singapore: one day
    event = Event(
        slug=SLUG, title="Course on Maritime Law and Regional Order", category="course", starts_at=starts,
        ends_at=starts + timedelta(hours=8), timezone="Asia/Singapore", venue="RSIS", address="",
        status=EventStatus.DRAFT, capacity=40, waitlist=True,
    )
    session.add(event)
    session.flush()
    states = [S.CONFIRMED, S.CONFIRMED, S.PENDING, S.WAITLISTED, S.CONFIRMED, S.CANCELLED, S.REJECTED]
    for i in range(60):
        status = states[i % len(states)]
        when = now - timedelta(days=30) + timedelta(minutes=37 * i)
        name = f"{_FIRST[i % len(_FIRST)]} {_LAST[(i // len(_FIRST)) % len(_LAST)]}"
        organisation = _ORGS[i % len(_ORGS)]
        if i == 0:
            name, organisation = "Muhammad Abdul Rahman bin Abdullah Al-Hashimi", "Directorate-General of Maritime Affairs and Fisheries"
        session.add(Registration(
            event_id=event.id, email=f"participant{i + 1}.fit@demo.example.org", name=name, organisation=organisation,
            answers={}, status=status, token=new_token(), consented_at=when, created_at=when, updated_at=when,
            confirmed_at=when if status == S.CONFIRMED else None,
            checked_in_at=now - timedelta(minutes=i) if status == S.CONFIRMED and i % 2 == 0 else None,
        ))
    session.add(OutboxMessage(
        kind="confirmed", to_address=LONG_ADDRESS, subject="Confirmed", body_text="-", status=MessageStatus.FAILED, attempts=5,
        last_error="550 5.1.1 <" + LONG_ADDRESS + ">: Recipient address rejected: User unknown in virtual mailbox table",
    ))


def _unseed(session: Session) -> None:
    event_id = session.query(Event.id).filter_by(slug=SLUG).scalar()
    session.execute(delete(OutboxMessage).where(OutboxMessage.to_address == LONG_ADDRESS))
    session.execute(delete(Registration).where(Registration.event_id == event_id))
    session.execute(delete(Event).where(Event.id == event_id))


@pytest.fixture(scope="module")
def course(live: LiveSite) -> Iterator[str]:
    run_unit_of_work(live.sessions, _seed, write=True)
    yield SLUG
    run_unit_of_work(live.sessions, _unseed, write=True)


def _sign_in(page: Page) -> None:
    page.goto("/admin/sign-in")
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


def _in_view(page: Page, selector: str) -> bool:
    """Whether the element lies wholly inside the window's width, unscrolled."""
    return bool(page.locator(selector).first.evaluate(
        "el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth; }"
    ))


def assert_no_table_scrolls(page: Page) -> None:
    """No table's box scrolls sideways inside the page either (.table-scroll would let it)."""
    wide = page.evaluate("""() => Array.from(document.querySelectorAll('.table-scroll'))
        .filter(s => s.scrollWidth > s.clientWidth).map(s => `${s.scrollWidth}px in ${s.clientWidth}px`)""")
    assert not wide, f"{page.url}: a table scrolls sideways ({wide})"


def test_the_roster_fits_the_screen(page: Page, live: LiveSite, device: str, course: str) -> None:
    audit = Audit(page, device)
    _sign_in(page)
    page.goto(f"/admin/events/{course}")
    roster = page.locator("table.roster")
    expect(roster.get_by_role("row")).to_have_count(51)  # the headings, and a page of 50
    assert_fits_the_screen(page, device)
    assert_no_table_scrolls(page)
    expect(page.get_by_text("Times in Asia/Singapore")).to_be_visible()
    if device == "desktop":
        expect(roster.get_by_role("columnheader", name="Checked in")).to_be_visible()
        assert _in_view(page, "table.roster thead th:has-text('Checked in')")
        assert _in_view(page, "table.roster td.roster-actions")
    else:
        # A card: the name, its status, when checked in, and the row's next step, all in view.
        card = roster.get_by_role("row").filter(has_text="Muhammad Abdul Rahman")
        expect(card.get_by_role("rowheader")).to_be_visible()
        expect(card.get_by_text("Confirmed")).to_be_visible()
        expect(card.locator("td[data-label='Checked in']")).to_be_visible()
        checkbox = card.get_by_role("checkbox")
        expect(checkbox).to_be_visible()
        box = checkbox.bounding_box()
        assert box is not None and box["x"] + box["width"] <= DEVICES[device]["viewport"]["width"]
        pending = roster.get_by_role("row").filter(has=page.get_by_role("button", name="Approve Chen Rahman"))
        expect(pending.get_by_role("button", name="Approve Chen Rahman")).to_be_visible()
        assert _in_view(page, "table.roster td.roster-actions button")
    audit.check("roster of a demo-sized event")

    # The column picker: a page of its own, its choice kept.
    page.get_by_role("link", name="Choose the columns").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Roster columns")
    assert_fits_the_screen(page, device)
    audit.check("column picker")
    page.get_by_role("checkbox", name="Email").check()
    page.get_by_role("button", name="Show columns").click()
    expect(page.get_by_role("status").filter(has_text="columns you chose")).to_be_visible()
    expect(roster.get_by_role("columnheader", name="Email")).to_have_count(1)
    assert_fits_the_screen(page, device)
    assert_no_table_scrolls(page)
    # Back to the usual columns, for the other tests.
    page.get_by_role("link", name="Choose the columns").click()
    page.get_by_role("checkbox", name="Email").uncheck()
    page.get_by_role("button", name="Show columns").click()
    expect(roster.get_by_role("columnheader", name="Email")).to_have_count(0)
    audit.assert_clean()


@pytest.mark.parametrize("device", ["phone"])
def test_the_outbox_and_the_programmes_fit_a_phone(page: Page, live: LiveSite, device: str, course: str) -> None:
    audit = Audit(page, device)
    _sign_in(page)
    page.goto("/admin/outbox")
    expect(page.get_by_text(LONG_ADDRESS).first).to_be_visible()
    assert_fits_the_screen(page, device)
    assert_no_table_scrolls(page)
    audit.check("outbox")
    page.goto("/admin/programmes")
    expect(page.get_by_role("heading", level=1)).to_have_text("Programmes")
    assert_fits_the_screen(page, device)
    assert_no_table_scrolls(page)
    audit.check("programmes")
    audit.assert_clean()

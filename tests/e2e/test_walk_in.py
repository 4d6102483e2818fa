"""A walk-in at the door, on a phone without the scanner: the organiser opens "Add a walk-in",
is told the event is full, admits the person over capacity, and sees them counted as checked
in; axe finds nothing serious on these pages."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import run_unit_of_work, utcnow
from portal.models import AuditEntry, Event, EventStatus, Registration, RegistrationStatus
from portal.registrations.participants import new_token
from tests.conftest import running_today
from tests.e2e.conftest import ORGANISER_EMAIL, ORGANISER_PASSWORD, LiveSite
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journeys import assert_fits_the_screen

pytestmark = pytest.mark.browser


def _full_event(session: Session, slug: str) -> None:
    now = utcnow().replace(microsecond=0)
    starts, ends = running_today()
    event = Event(
        slug=slug, title="Walk-in Drill", category="seminar", starts_at=starts, ends_at=ends,
        timezone="Asia/Singapore", venue="RSIS", address="", status=EventStatus.PUBLISHED, published_at=now, capacity=1, waitlist=False,
    )
    session.add(event)
    session.flush()
    session.add(Registration(
        event_id=event.id, name="Seated Already", email=f"seated-{slug}@example.org", organisation="", answers={},
        status=RegistrationStatus.CONFIRMED, token=new_token(), checkin_code=f"W{uuid.uuid4().hex[:9].upper()}", confirmed_at=now,
    ))


@pytest.mark.parametrize("device", ["phone"])
def test_a_walk_in_at_a_full_event_is_admitted_over_capacity_and_counted(page: Page, live: LiveSite, device: str) -> None:
    slug = f"walk-in-{uuid.uuid4().hex[:6]}"
    email = f"walker-{slug}@example.org"
    run_unit_of_work(live.sessions, _full_event, slug, write=True)
    audit = Audit(page, device)
    page.goto(f"/admin/events/{slug}/check-in")
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#check-in-count")).to_have_text("0")

    page.get_by_text("Add a walk-in (not registered)").click()
    walk_in = page.locator("#walk-in")
    expect(walk_in.get_by_text("The event is full (1 seat taken)")).to_be_visible()
    assert_fits_the_screen(page, device)
    audit.check("door with the walk-in form open")
    walk_in.get_by_label("Full name").fill("Nguyen Thi Lan")
    walk_in.get_by_label("Email address").fill(email)
    walk_in.get_by_label("Organisation").fill("Vietnam Maritime Police")
    walk_in.get_by_role("button", name="Add and check in").click()

    # Refused without the override: the form comes back with what was typed.
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The event is full: 1 confirmed of 1 seat. Nothing was added.")
    expect(page.get_by_label("Full name")).to_have_value("Nguyen Thi Lan")
    assert_fits_the_screen(page, device)
    audit.check("walk-in refused: full")
    page.get_by_label("Admit anyway (over capacity)").check()
    page.get_by_role("button", name="Add and check in").click()

    # Back at the door: said, and counted as checked in.
    expect(page.get_by_text("Added and checked in: Nguyen Thi Lan.")).to_be_visible()
    expect(page.get_by_text("Admitted over capacity: 2 confirmed of 1 seat.", exact=False)).to_be_visible()
    expect(page.locator("#check-in-count")).to_have_text("1")
    expect(page.locator(".check-in-count")).to_contain_text("1 of 2 checked in")
    expect(page.locator("#check-in-results li", has_text="Nguyen Thi Lan")).to_contain_text("checked in")
    assert_fits_the_screen(page, device)
    audit.check("door after the walk-in")
    audit.assert_clean()

    with live.sessions() as session:
        added = session.scalars(select(Registration).where(Registration.email == email)).one()
        assert added.status == RegistrationStatus.CONFIRMED and added.checked_in_at is not None
        entry = session.scalars(select(AuditEntry).where(AuditEntry.registration_id == added.id, AuditEntry.action == "registration.walk_in")).one()
        assert "over capacity" in entry.after

"""The door in Chromium: an organiser scans tickets (pictures of their QR codes, fed to the
page's decoder as the camera's frames are), loses the network, keeps scanning (the page says
how many scans wait), reloads the page offline, and sees every scan arrive once when the
network returns."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import run_unit_of_work, utcnow
from portal.documents.qr import png
from portal.models import CheckIn, Event, EventStatus, Registration, RegistrationStatus
from portal.registrations.participants import new_token
from tests.e2e.conftest import ORGANISER_EMAIL, ORGANISER_PASSWORD, LiveSite

pytestmark = pytest.mark.browser

PEOPLE = [
    ("Aisha Rahman", "Ministry of Defence", "A1B2C3D4E5", RegistrationStatus.CONFIRMED),
    ("Budi Santoso", "Coast Guard", "B1C2D3E4F5", RegistrationStatus.CONFIRMED),
    ("Chen Wei", "Maritime Institute", "C1D2E3F4G5", RegistrationStatus.CONFIRMED),
    ('<img src=x onerror="document.title=1">Dewi', "Policy <b>Centre</b>", "D1E2F3G4H5", RegistrationStatus.CONFIRMED),
    ("Eko Prasetyo", "Armed Forces", "E1F2G3H4J5", RegistrationStatus.CANCELLED),
]


def _door_event(session: Session, slug: str) -> None:
    now = utcnow().replace(microsecond=0)
    event = Event(
        slug=slug, title="Door Drill", category="seminar", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=3),
        timezone="Asia/Singapore", venue="RSIS", address="", status=EventStatus.PUBLISHED, published_at=now, capacity=None, waitlist=False,
    )
    session.add(event)
    session.flush()
    for name, organisation, code, status in PEOPLE:
        session.add(Registration(
            event_id=event.id, name=name, email=f"{code.lower()}-{slug}@example.org", organisation=organisation, answers={},
            status=status, token=new_token(), checkin_code=code, confirmed_at=now,
        ))


def _late_comer(session: Session, slug: str) -> None:
    event = session.scalars(select(Event).where(Event.slug == slug)).one()
    session.add(Registration(
        event_id=event.id, name="Late Comer", email=f"late-{slug}@example.org", organisation="", answers={},
        status=RegistrationStatus.CONFIRMED, token=new_token(), checkin_code="F1G2H3J4K5", confirmed_at=utcnow(),
    ))


def qr(text: str) -> str:
    """The QR code as the tickets' PNG (emails, printed tickets) has it, as an image address."""
    return "data:image/png;base64," + base64.b64encode(png(text, scale=6)).decode()


def scan(page: Page, text: str) -> object:
    return page.evaluate("source => window.portalDoor.scanImage(source)", qr(text))


@pytest.mark.parametrize("device", ["phone"])
def test_the_door_scans_offline_and_sends_each_scan_once(page: Page, context: BrowserContext, live: LiveSite, device: str) -> None:
    slug = f"door-drill-{uuid.uuid4().hex[:6]}"
    run_unit_of_work(live.sessions, _door_event, slug, write=True)
    page.goto(f"/admin/events/{slug}/check-in")
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Scan tickets")).to_be_visible()

    status, online, waiting, result = page.locator("#door-status"), page.locator("#door-online"), page.locator("#door-waiting"), page.locator("#door-result")
    count, offline_note, names = page.locator("#check-in-count"), page.locator("#check-in-offline"), page.locator("#check-in-results")
    expect(status).to_have_attribute("data-tickets", "5")  # the ticket list is on the device
    # Times are in the event's zone, named.
    expect(page.locator("#door-held")).to_contain_text("(Asia/Singapore)")
    expect(count).to_have_text("0")
    expect(online).to_have_text("Online")
    # The page and its files are kept for a reload without the network.
    page.wait_for_function("() => caches.match(location.pathname).then(Boolean)")

    # Online: the server decides.
    assert scan(page, "PTK1:A1B2C3D4E5") == "PTK1:A1B2C3D4E5"
    expect(result).to_have_class("door-result door-admitted")
    expect(result).to_contain_text("Checked in")
    expect(result).to_contain_text("Aisha Rahman")
    expect(result).to_contain_text("Ministry of Defence")
    # The count and the list of names catch up without a reload.
    expect(count).to_have_text("1")
    expect(names.locator("li", has_text="Aisha Rahman")).to_contain_text("checked in")
    expect(page.locator("#door-log li").first).to_contain_text("(Asia/Singapore) Checked in: Aisha Rahman")
    # A QR code that is not one of the portal's tickets is ignored.
    assert scan(page, "https://example.org/A1B2C3D4E5") is None

    # Offline: the page decides, and keeps what it admitted until it can send it.
    context.set_offline(True)
    expect(online).to_have_text("Offline")
    # The buttons by name post to the server: offline they wait, and the page says why.
    expect(offline_note).to_be_visible()
    expect(names.get_by_role("button", name="Chen Wei")).to_be_disabled()
    scan(page, "PTK1:B1C2D3E4F5")
    expect(result).to_contain_text("Budi Santoso")
    expect(result).to_have_class("door-result door-admitted")
    expect(waiting).to_have_text("1")
    expect(count).to_have_text("2")
    expect(names.locator("li", has_text="Budi Santoso")).to_contain_text("(Asia/Singapore) on this device")
    page.get_by_label("Ticket code").fill("c1d2e-3f4g5")  # typed, as read off a ticket
    page.get_by_role("button", name="Check", exact=True).click()
    expect(result).to_contain_text("Chen Wei")
    expect(waiting).to_have_text("2")
    scan(page, "PTK1:D1E2F3G4H5")
    expect(result).to_contain_text('<img src=x onerror="document.title=1">Dewi')  # a name is text
    expect(result).to_contain_text("Policy <b>Centre</b>")
    assert result.locator("img, b").count() == 0
    expect(waiting).to_have_text("3")
    expect(count).to_have_text("4")
    expect(names.locator("img, b")).to_have_count(0)
    scan(page, "PTK1:A1B2C3D4E5")  # in already, a few seconds ago: amber, nothing kept
    expect(result).to_have_class("door-result door-already")
    expect(result).to_contain_text("Already checked in")
    expect(result).to_contain_text("(Asia/Singapore)")
    # The ticket just admitted here, held up to the camera again: still its green answer.
    scan(page, "PTK1:D1E2F3G4H5")
    expect(result).to_have_class("door-result door-admitted")
    expect(result).to_contain_text("Policy <b>Centre</b>")
    expect(count).to_have_text("4")
    scan(page, "PTK1:E1F2G3H4J5")
    expect(result).to_have_class("door-result door-refused")
    expect(result).to_contain_text("Not confirmed: cancelled")
    expect(waiting).to_have_text("3")

    # The page reloads offline, from the copy its service worker kept (without the person who
    # registered meanwhile: the server was not asked), with its waiting scans.
    run_unit_of_work(live.sessions, _late_comer, slug, write=True)
    reload = page.reload()
    assert reload is not None and reload.from_service_worker
    expect(page.get_by_role("heading", name="Scan tickets")).to_be_visible()
    expect(page.get_by_text("Late Comer")).to_have_count(0)
    expect(page.locator("#door-online")).to_have_text("Offline")
    expect(page.locator("#door-waiting")).to_have_text("3")

    # Back online: the waiting scans go, and the server has each once.
    context.set_offline(False)
    expect(page.locator("#door-waiting")).to_have_text("0")
    expect(page.locator("#door-online")).to_have_text("Online")
    expect(page.locator("#check-in-offline")).to_be_hidden()
    expect(page.locator("#check-in-count")).to_have_text("4")  # as the server has it, after the sync
    expect(page.locator("#check-in-results li", has_text="Chen Wei").get_by_role("button", name="Undo")).to_be_enabled()
    with live.sessions() as session:
        event_id = session.scalar(select(Event.id).where(Event.slug == slug))
        came = session.execute(
            select(Registration.name, CheckIn.scan_id, CheckIn.door).join(CheckIn, CheckIn.registration_id == Registration.id)
            .where(CheckIn.event_id == event_id)
        ).all()
    names = sorted(name for name, _, _ in came)
    assert names == sorted(name for name, _, _, status in PEOPLE if status == RegistrationStatus.CONFIRMED)
    assert len({scan_id for _, scan_id, _ in came}) == len(came)
    assert page.title() != "1"

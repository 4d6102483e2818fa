"""The two journeys that matter most, end to end in Chromium, on a phone and on a desktop:
a visitor registers and cancels; an organiser decides, checks in and exports."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DEVICES, ORGANISER_EMAIL, ORGANISER_PASSWORD, LiveSite

pytestmark = pytest.mark.browser


def assert_fits_the_screen(page: Page, device: str) -> None:
    """Nothing sticks out sideways: a phone user never has to scroll the whole page left and right."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= DEVICES[device]["viewport"]["width"], f"{page.url} is {width}px wide on the {device}"


def test_a_visitor_finds_an_event_registers_and_cancels(page: Page, live: LiveSite, device: str) -> None:
    email = f"visitor-{device}@example.org"
    title = "Maritime Security in the Indo-Pacific"

    # Finds it from the home page.
    page.goto("/")
    assert_fits_the_screen(page, device)
    page.get_by_label("Search events").fill("maritime")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upcoming events")
    expect(page.get_by_role("heading", level=2)).to_have_text("1 event")
    page.get_by_role("link", name=title).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.get_by_text(re.compile(r"\d+ seats left"))).to_be_visible()
    expect(page.get_by_text("Asia/Singapore").first).to_be_visible()  # the zone is named
    assert_fits_the_screen(page, device)
    page.get_by_role("button", name="Register").click()

    # The form: a forgotten consent comes back as a message, with what was typed kept.
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Register for {title}")
    page.get_by_label("Full name").fill("Nguyen Thi Lan")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Organisation").fill("Institute of Strategic Studies")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_contain_text("Please correct 1 field below.")
    expect(page.get_by_role("alert")).to_contain_text("You need to agree to the privacy notice")
    expect(page.get_by_label("Full name")).to_have_value("Nguyen Thi Lan")
    expect(page.get_by_label("Email address")).to_have_value(email)
    expect(page.get_by_label("I agree")).to_have_attribute("aria-invalid", "true")
    assert_fits_the_screen(page, device)
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Register").click()

    # The confirmation.
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    expect(page.get_by_role("status")).to_contain_text(f"We have received your registration for {title}")
    # (The page links to "Lost your link?" at /registrations/lost, which is no one's token.)
    assert not re.search(r"/registrations/[A-Za-z0-9_-]{40,}", page.content()), "the private link must never be shown on a page"

    # The link from the email opens the registration.
    page.goto(live.emailed_link(email))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your registration")
    expect(page.get_by_text("Confirmed: you have a seat.")).to_be_visible()
    expect(page.get_by_label("Full name")).to_have_value("Nguyen Thi Lan")
    assert_fits_the_screen(page, device)

    # Cancels, after being asked.
    page.get_by_role("button", name="Cancel my registration").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cancel your registration?")
    page.get_by_role("button", name="Yes, cancel my registration").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your registration")
    expect(page.get_by_text("Cancelled.", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Cancel my registration")).to_have_count(0)


def test_an_organiser_approves_checks_in_and_exports(page: Page, live: LiveSite, device: str) -> None:
    applicant = f"Applicant {device.title()}"
    delegate = f"Delegate {device.title()}"
    other_delegate = "Delegate Phone" if device == "desktop" else "Delegate Desktop"

    # Signs in, sent there from the back office and brought back.
    page.goto("/admin/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisers: sign in")
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    assert_fits_the_screen(page, device)

    # Approves a pending application, from the dashboard's list of what waits for a decision.
    waiting = page.get_by_role("region", name="Waiting for a decision")
    waiting.get_by_role("link", name="International Strategy Forum-Asia").click()
    expect(page.get_by_label("Status")).to_have_value("pending")
    page.get_by_role("checkbox", name=f"Select {applicant}").check()
    page.get_by_role("button", name="Approve", exact=True).click()
    # It emails the applicant, so it asks first, with a note to put in the email.
    expect(page.get_by_role("heading", level=1)).to_have_text("Approve 1 registration?")
    expect(page.get_by_text("This will email 1 person")).to_be_visible()
    assert_fits_the_screen(page, device)
    page.get_by_label("A note for the email").fill("Welcome aboard: the reading list follows.")
    page.get_by_role("button", name="Approve 1 registration and email them").click()
    expect(page.get_by_role("status").filter(has_text="Approved")).to_be_visible()
    expect(page.get_by_role("checkbox", name=f"Select {applicant}")).to_have_count(0)  # no longer pending
    assert_fits_the_screen(page, device)

    # Checks someone in at the door: the search narrows the list as the name is typed.
    page.get_by_role("button", name="Check-in at the door").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Check-in: "))
    page.get_by_label("Name, email or organisation").fill(delegate)
    expect(page.get_by_role("button", name=re.compile(other_delegate))).to_have_count(0)
    page.get_by_role("button", name=re.compile(delegate)).click()
    done = page.get_by_role("listitem").filter(has_text=delegate)
    expect(done).to_contain_text("checked in")
    expect(done.get_by_role("button", name="Undo")).to_be_visible()
    assert_fits_the_screen(page, device)

    # Exports the roster, with both changes in it.
    page.get_by_role("link", name="← Roster").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    with open(download.value.path(), encoding="utf-8-sig", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert rows[applicant]["Status"].lower() == "confirmed"
    checked_in = next(value for key, value in rows[delegate].items() if key.startswith("Checked in"))
    assert re.search(r"\d{2}:\d{2}", checked_in), rows[delegate]
    assert "statement" in rows[applicant] or any("statement" in key.lower() for key in rows[applicant])

"""Personal data in Chromium on a phone: a participant reads what the portal holds about
them and erases it with the keyboard; an organiser reveals a sensitive answer, which is shown
once and never kept by a cache."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.models import Registration
from tests.e2e.conftest import ORGANISER_EMAIL, ORGANISER_PASSWORD, SENSITIVE_ANSWER, SENSITIVE_EMAIL, LiveSite
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journeys import assert_fits_the_screen

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("device", ["phone"])]


def registration_of(live: LiveSite, email: str) -> Registration:
    with live.sessions() as session:
        return session.scalars(select(Registration).where(Registration.email == email)).one()


def test_a_participant_reads_and_erases_their_data(page: Page, live: LiveSite, device: str) -> None:
    audit = Audit(page, device)
    email = f"eraser-{device}@example.org"
    manage = f"/registrations/{registration_of(live, email).token}"
    page.goto(manage)
    page.get_by_role("link", name="See your data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data")
    expect(page.get_by_text(email).first).to_be_visible()
    assert_fits_the_screen(page, device)
    audit.check("your data")

    page.get_by_role("button", name="Erase my data").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erase your data")
    expect(page.get_by_text(re.compile(r"Cancelled first"))).to_be_visible()
    assert_fits_the_screen(page, device)
    audit.check("erase")
    understood = page.get_by_role("checkbox", name=re.compile(r"I understand"))
    understood.focus()
    page.keyboard.press("Space")
    expect(understood).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Erase my data")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Your data is erased")
    expect(page.get_by_role("status")).to_contain_text("1 registration erased")
    expect(page.get_by_role("listitem").filter(has_text="Maritime Security in the Indo-Pacific")).to_contain_text(
        "cancelled, and your details removed"
    )
    assert_fits_the_screen(page, device)
    audit.check("erased")
    gone = page.goto(manage)
    assert gone is not None and gone.status == 404, "the private link still opens the erased registration"
    audit.assert_clean()


def test_an_organiser_reveals_a_sensitive_answer(page: Page, live: LiveSite, device: str) -> None:
    audit = Audit(page, device)
    address = f"/admin/registrations/{registration_of(live, SENSITIVE_EMAIL).id}"
    page.goto(address)
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nadia Rahman")
    expect(page.get_by_text(SENSITIVE_ANSWER)).to_have_count(0)
    assert_fits_the_screen(page, device)
    audit.check("registration, answer masked")

    with page.expect_response(lambda r: r.url.endswith("/reveal")) as answered:
        page.get_by_role("button", name="Sensitive — Reveal").click()
    assert answered.value.headers.get("cache-control") == "no-store"
    expect(page.locator(".revealed")).to_have_text(SENSITIVE_ANSWER)
    assert_fits_the_screen(page, device)
    audit.check("registration, answer revealed")

    page.goto(address)  # shown once: the page is masked again
    expect(page.get_by_role("button", name="Sensitive — Reveal")).to_be_visible()
    expect(page.get_by_text(SENSITIVE_ANSWER)).to_have_count(0)
    audit.assert_clean()

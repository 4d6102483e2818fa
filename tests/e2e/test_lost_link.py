"""After registering, on a phone: what the thank-you page promises, then "Lost your link?" from
it to the email with the link, and the manage page's way back in after cancelling; axe finds
nothing serious on any of these pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.models import OutboxMessage
from tests.e2e.conftest import LiveSite
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journeys import assert_fits_the_screen

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", ["phone"], indirect=True)
def test_a_participant_learns_what_comes_next_and_gets_a_lost_link_back(page: Page, live: LiveSite, device: str) -> None:
    email = "lost-link-phone@example.org"
    title = "Maritime Security in the Indo-Pacific"
    audit = Audit(page, device)

    page.goto(f"/events/{live.open_event}")
    expect(page.get_by_role("link", name="Lost your link?")).to_be_visible()
    audit.check("event page")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("link", name="Lost your link?")).to_be_visible()
    audit.check("registration form")
    page.get_by_label("Full name").fill("Pham Van Duc")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Register").click()

    # The thank-you page: what happens next, to which address, when, and what if it does not come.
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    expect(page.get_by_role("status")).to_contain_text(f"We have received your registration for {title}")
    main = page.get_by_role("main")
    expect(main).to_contain_text(f"We are sending an email to {email}. It should arrive within a few minutes.")
    expect(main).to_contain_text("Look in your spam or junk folder.")
    assert_fits_the_screen(page, device)
    audit.check("thank-you page")

    # Lost the email: asks for the links again, from the thank-you page.
    page.get_by_role("link", name="“Lost your link?”").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lost your link?")
    audit.check("lost-link form")
    page.get_by_role("button", name="Email me my links").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter your email address.")
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    assert_fits_the_screen(page, device)
    audit.check("lost-link form, refused")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Email me my links").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    expect(page.get_by_role("status")).to_contain_text(email)
    assert_fits_the_screen(page, device)
    audit.check("lost-link sent")

    with live.sessions() as session:
        kinds = session.scalars(select(OutboxMessage.kind).where(OutboxMessage.to_address == email).order_by(OutboxMessage.id)).all()
    assert kinds == ["confirmed", "lost_links"]

    # The link in that email opens the registration; after cancelling, the way back in.
    page.goto(live.emailed_link(email))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your registration")
    page.get_by_role("button", name="Cancel my registration").click()
    page.get_by_role("button", name="Yes, cancel my registration").click()
    expect(page.get_by_role("heading", name="Your registration is cancelled")).to_be_visible()
    again = page.get_by_role("button", name="Register again for this event")
    expect(again).to_have_attribute("href", re.compile(rf"/events/{live.open_event}/register$"))
    assert_fits_the_screen(page, device)
    audit.check("manage page, cancelled")
    audit.assert_clean()

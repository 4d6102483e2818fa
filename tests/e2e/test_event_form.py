"""The new-event form in Chromium, on a phone and a desktop: the URL slug follows the title as
it is typed (until the organiser types their own), and the category and time zone fields
offer their lists; axe finds nothing serious on the form."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ORGANISER_EMAIL, ORGANISER_PASSWORD, LiveSite
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journeys import assert_fits_the_screen

pytestmark = pytest.mark.browser


def test_the_slug_follows_the_title_until_it_is_typed(page: Page, live: LiveSite, device: str) -> None:
    audit = Audit(page, device)
    page.goto("/admin/events/new")
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New event")
    assert_fits_the_screen(page, device)
    audit.check("new event")

    slug = page.get_by_label("URL slug")
    page.get_by_label("Title").press_sequentially("Café Société: Asia 2027")
    expect(slug).to_have_value("cafe-societe-asia-2027")
    # The organiser's own slug stays as typed when the title changes again.
    slug.fill("cs-2027")
    page.get_by_label("Title").fill("Café Société: Asia 2028")
    page.get_by_label("Title").press("End")
    page.get_by_label("Title").press_sequentially("!")
    expect(slug).to_have_value("cs-2027")
    # The lists the fields suggest from.
    assert page.get_by_label("Category").get_attribute("list") == "known-categories"
    assert page.locator("#known-categories option[value='conference']").count() == 1
    assert page.locator("#time-zones option[value='Europe/London']").count() == 1
    audit.assert_clean()

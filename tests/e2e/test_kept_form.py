"""A session that ends during an edit, in Chromium on a phone and a desktop: what was typed is
kept through signing in and saved only by the organiser's "Save them now"; five minutes
before the session ends, the page says so."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import ORGANISER_EMAIL, ORGANISER_PASSWORD, LiveSite
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journeys import assert_fits_the_screen

pytestmark = pytest.mark.browser

EDIT = "/admin/events/book-launch-cohesion/edit"


def sign_in(page: Page) -> None:
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_edit_outlives_the_session(page: Page, context: BrowserContext, live: LiveSite, device: str) -> None:
    audit = Audit(page, device)
    page.goto(EDIT)
    sign_in(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit the event")
    venue = f"Kept Hall ({device})"
    page.get_by_label("Venue").fill(venue)
    context.clear_cookies(name="portal_admin")  # the session ends while the organiser types
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Organisers: sign in")
    expect(page.get_by_text("What you sent has been kept, not saved yet.")).to_be_visible()
    assert_fits_the_screen(page, device)
    audit.check("sign in, with a kept form")
    sign_in(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Your changes were kept")
    assert_fits_the_screen(page, device)
    audit.check("kept changes")
    page.get_by_text(re.compile(r"What will be sent")).click()
    expect(page.get_by_text(venue)).to_be_visible()
    page.get_by_role("button", name="Save them now").click()
    expect(page).to_have_url(re.compile(r"/admin/events/book-launch-cohesion$"))
    expect(page.get_by_text(venue).first).to_be_visible()
    audit.assert_clean()


def test_the_page_warns_before_the_session_ends(page: Page, live: LiveSite, device: str) -> None:
    page.clock.install()
    page.goto("/admin/")
    if page.get_by_role("heading", name="Organisers: sign in").count():
        sign_in(page)
    left = int(page.locator('meta[name="portal-session-left"]').get_attribute("content") or "")
    warning = page.locator(".session-clock")
    expect(warning).to_have_count(0)
    page.clock.fast_forward((left - 4 * 60) * 1000)
    expect(warning).to_have_text("Your session ends in about 4 minutes: save your work.")
    expect(warning).to_be_in_viewport()
    page.clock.fast_forward(5 * 60 * 1000)
    expect(warning).to_have_text("Your session has ended. What you send now is kept while you sign in again.")

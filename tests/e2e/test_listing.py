"""The listing on a phone: the results come first and the filters wait behind a disclosure,
which opens without JavaScript, and the date filters narrow the results."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveSite
from tests.e2e.test_accessibility import Audit
from tests.e2e.test_journeys import assert_fits_the_screen

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", ["phone"])
def test_on_a_phone_the_first_event_is_on_the_first_screen(page: Page, live: LiveSite, device: str) -> None:
    audit = Audit(page, device)
    page.goto("/events")
    first = page.locator("article.event-card h3").first
    expect(first).to_be_visible()
    box = first.bounding_box()
    assert box is not None
    height = page.viewport_size["height"] if page.viewport_size else 844
    assert box["y"] + box["height"] <= height, f"the first event's title ends {box['y'] + box['height']:.0f}px down a {height}px screen"
    assert_fits_the_screen(page, device)
    expect(page.get_by_label("Programme")).to_be_hidden()
    audit.check("listing, filters closed")

    # The disclosure opens by touch, and the date filters combine with the search.
    page.get_by_text("Filter events").click()
    expect(page.get_by_label("Programme")).to_be_visible()
    assert_fits_the_screen(page, device)
    page.get_by_label("From").fill("2000-01-01")
    page.get_by_label("To").fill("2000-01-31")
    page.get_by_role("button", name="Show events").click()
    expect(page.get_by_role("heading", level=2).first).to_have_text("0 events")
    expect(page.get_by_label("From")).to_have_value("2000-01-01")  # open again, as a filter is in use
    audit.check("listing, filtered by dates")

    page.get_by_role("link", name="This month").click()
    expect(page).to_have_url(re.compile(r"from=\d{4}-\d{2}-01&to=\d{4}-\d{2}-\d{2}"))
    expect(page.get_by_label("From")).to_have_value(re.compile(r"\d{4}-\d{2}-01"))
    audit.assert_clean()

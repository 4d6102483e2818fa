"""A conference's timetable in Chromium, on a phone and a desktop: the demo's programme (three
days, 120 sessions in four rooms, 200 speakers) reads as a list without JavaScript, with every
day shown; with it, a day picker works by keyboard and "now and next" shows during the event;
sessions stand side by side on the desktop and stack on the phone; axe finds no serious
problem on the timetable, a session, a speaker and the search; the pages are valid HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from portal.catalogue.imports import import_data
from portal.db import run_unit_of_work
from portal.demo import timetable as demo
from tests.e2e.conftest import DEVICES, LiveSite
from tests.e2e.test_accessibility import Audit, focus_of
from tests.e2e.test_journeys import assert_fits_the_screen
from tests.e2e.tools import HtmlCheck

pytestmark = pytest.mark.browser

SLUG = "iccs-browser"
TITLE = "ICCS in the browser"
DAY_LABELS = ["Tue 22 Jun", "Wed 23 Jun", "Thu 24 Jun"]
DAY_HEADINGS = ["Tuesday 22 June 2027", "Wednesday 23 June 2027", "Thursday 24 June 2027"]
# 14:20 in Singapore on the second day: the 14:10 sessions are on, the 14:50 ones next.
DURING = datetime(2027, 6, 23, 6, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def conference(live: LiveSite) -> str:
    """The demo conference's speakers and sessions, imported as a conference's own file would be."""
    data: dict[str, Any] = {
        "speakers": demo.speakers(),
        "events": [{
            "slug": SLUG, "title": TITLE, "category": "conference", "starts_at": "2027-06-22T09:00:00+08:00",
            "ends_at": "2027-06-24T17:00:00+08:00", "timezone": "Asia/Singapore", "venue": "Raffles City Convention Centre",
            "capacity": None, "status": "published", "description": "Three days of plenaries, panels and workshops.",
            "sessions": demo.sessions(),
        }],
    }
    run_unit_of_work(live.sessions, import_data, data, write=True)
    return SLUG


def test_the_timetable_reads_well_and_its_day_picker_works_by_keyboard(page: Page, live: LiveSite, device: str, conference: str) -> None:
    audit = Audit(page, device)
    page.clock.install(time=DURING)
    page.goto(f"/events/{conference}")
    expect(page.get_by_role("heading", name="Timetable", level=2)).to_be_visible()
    expect(page.get_by_text("Times are in Asia/Singapore (UTC+08:00).")).to_be_visible()
    assert_fits_the_screen(page, device)

    # During the event the picker opens on today, and says what is on now and next.
    tabs = page.get_by_role("tab")
    expect(tabs).to_have_text(DAY_LABELS)
    expect(page.get_by_role("tab", selected=True)).to_have_text("Wed 23 Jun")
    expect(page.get_by_role("heading", name=DAY_HEADINGS[1])).to_be_visible()
    expect(page.get_by_role("heading", name=DAY_HEADINGS[0])).to_be_hidden()
    now = page.locator(".timetable-now")
    expect(now).to_contain_text("Now:")
    expect(now).to_contain_text("Next, at 14:50:")
    expect(page.locator("#session-day2-6a .badge-now")).to_have_text("Now")
    expect(page.locator("#session-day2-7a .badge-next")).to_have_text("Next")

    # Parallel sessions: side by side on the desktop, stacked in time order on the phone, each
    # naming its room.
    first, second = page.locator("#session-day2-6a").bounding_box(), page.locator("#session-day2-6b").bounding_box()
    assert first and second
    if device == "desktop":
        assert abs(first["y"] - second["y"]) < 2 and second["x"] > first["x"] + first["width"] - 1
    else:
        assert abs(first["x"] - second["x"]) < 2 and second["y"] >= first["y"] + first["height"]
    expect(page.locator("#session-day2-6b .session-meta")).to_contain_text("Room 2")
    expect(page.locator("#session-day2-break-1100")).to_contain_text("Coffee break")
    audit.check("timetable")

    # The keyboard: arrows move between days, Home and End to the ends, Tab into the day.
    page.get_by_role("tab", selected=True).focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", selected=True)).to_have_text("Thu 24 Jun")
    assert focus_of(page) == "button#day-2027-06-24-tab"
    expect(page.get_by_role("heading", name=DAY_HEADINGS[2])).to_be_visible()
    expect(page.get_by_role("heading", name=DAY_HEADINGS[1])).to_be_hidden()
    page.keyboard.press("ArrowRight")  # round to the first
    expect(page.get_by_role("tab", selected=True)).to_have_text("Tue 22 Jun")
    page.keyboard.press("End")
    expect(page.get_by_role("tab", selected=True)).to_have_text("Thu 24 Jun")
    page.keyboard.press("Home")
    expect(page.get_by_role("tab", selected=True)).to_have_text("Tue 22 Jun")
    expect(page.get_by_role("heading", name=DAY_HEADINGS[0])).to_be_visible()
    # One Tab stop for the picker: the next goes into the day shown.
    page.keyboard.press("Tab")
    assert focus_of(page).startswith("a:Keynote: Cohesion in an age of disruption")
    audit.check("timetable, another day")

    # A session's page, and a speaker's, from the timetable.
    page.locator("#session-day1-1d .session-title a").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Workshop:")
    expect(page.get_by_text("30 places left")).to_be_visible()
    assert_fits_the_screen(page, device)
    audit.check("session")
    speaker = page.locator(".speaker-list a").first
    name = speaker.inner_text()
    speaker.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("heading", name="Upcoming sessions")).to_be_visible()
    assert_fits_the_screen(page, device)
    audit.check("speaker")

    # Back to the timetable at that session: its day is picked and the session in view.
    page.go_back()
    page.get_by_role("link", name=f"Back to the timetable of {TITLE}").click()
    expect(page.get_by_role("tab", selected=True)).to_have_text("Tue 22 Jun")
    expect(page.locator("#session-day1-1d")).to_be_in_viewport()

    # The listing's search finds a speaker and says where they speak.
    page.goto(f"/events?q={name.split()[-2]}+{name.split()[-1]}")
    hits = page.locator(".timetable-hits")
    expect(hits.get_by_role("link", name=name)).to_be_visible()
    expect(hits).to_contain_text(f"Speaker at {TITLE}")
    audit.check("search")
    audit.assert_clean()


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_without_javascript_every_day_is_shown_as_a_list(browser: Browser, live: LiveSite, device: str, conference: str) -> None:
    context = browser.new_context(base_url=live.url, java_script_enabled=False, **DEVICES[device])
    try:
        page = context.new_page()
        page.goto(f"/events/{conference}")
        for heading in DAY_HEADINGS:
            expect(page.get_by_role("heading", name=heading, level=3)).to_be_visible()
        expect(page.get_by_role("tab")).to_have_count(0)
        expect(page.locator("[data-session]")).to_have_count(120)
        expect(page.get_by_role("heading", level=4)).to_have_count(120 - 3 * 3)  # two breaks and lunch a day are quiet rows
        assert_fits_the_screen(page, device)
    finally:
        context.close()


def test_the_timetable_pages_are_valid_html(live: LiveSite, conference: str, tmp_path: Path) -> None:
    """The event page with its timetable, a session, a speaker and the search, through the Nu
    HTML checker (the package's check saved its pages before this conference existed)."""
    files = []
    with httpx.Client(base_url=live.url, timeout=10) as web:
        speaker = demo.speakers()[0]["key"]
        for name, path in [
            ("timetable", f"/events/{conference}"), ("session", f"/events/{conference}/sessions/day1-1d"),
            ("keynote", f"/events/{conference}/sessions/day1-keynote"), ("speaker", f"/speakers/{speaker}"),
            ("search", "/events?q=rahman"),
        ]:
            response = web.get(path)
            assert response.status_code == 200, path
            files.append(tmp_path / f"{name}.html")
            files[-1].write_text(response.text, encoding="utf-8")
    check = HtmlCheck()
    try:
        check.start(files)
        assert check.problem is None, check.problem
        errors = check.errors()
    finally:
        check.stop()
    assert not errors, "\n".join(errors)

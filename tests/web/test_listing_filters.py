"""The listing's filters: results before the filters, dates (from, to, this month) with the
other filters, search, paging and past events; bad dates refused with a message."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from portal.db import utcnow
from portal.models import EventStatus
from tests.timetables import add_session
from tests.web.test_public_pages import titles

SGT = ZoneInfo("Asia/Singapore")


def sgt(*args: int) -> datetime:
    return datetime(*args, tzinfo=SGT)


@pytest.fixture
def spring(make_event, make_programme):  # type: ignore[no-untyped-def]
    """Events around March 2030 in Singapore, the site's zone."""
    tatc = make_programme(code="tatc")
    make_event(title="Across the month's start", starts_at=sgt(2030, 2, 27, 9), ends_at=sgt(2030, 3, 1, 17))
    make_event(title="Mid March", starts_at=sgt(2030, 3, 10, 10), ends_at=sgt(2030, 3, 10, 12), programme_id=tatc.id)
    # 31 March in UTC, 1 April in Singapore: an April event here.
    make_event(title="Just after midnight", starts_at=sgt(2030, 4, 1, 0, 30), ends_at=sgt(2030, 4, 1, 2))
    make_event(title="Late February", starts_at=sgt(2030, 2, 20, 10), ends_at=sgt(2030, 2, 20, 12))


def test_from_and_to_keep_the_events_running_on_those_days_in_the_site_zone(client, spring):
    march = client.get("/events?from=2030-03-01&to=2030-03-31")
    assert march.status_code == 200
    assert titles(march.text) == ["Across the month's start", "Mid March"]
    assert "2 events" in march.text
    assert titles(client.get("/events?from=2030-04-01").text) == ["Just after midnight"]
    assert titles(client.get("/events?to=2030-02-27").text) == ["Late February", "Across the month's start"]
    assert titles(client.get("/events?from=2030-03-10&to=2030-03-10").text) == ["Mid March"]


def test_dates_combine_with_the_other_filters_and_the_search(client, spring):
    assert titles(client.get("/events?from=2030-03-01&to=2030-03-31&programme=tatc").text) == ["Mid March"]
    assert titles(client.get("/events?from=2030-03-01&to=2030-03-31&category=webinar").text) == []
    assert titles(client.get("/events?from=2030-04-01&q=midnight").text) == ["Just after midnight"]
    assert titles(client.get("/events?from=2030-03-01&to=2030-03-31&q=midnight").text) == []


def test_dates_combine_with_past_events(client, make_event):
    make_event(title="Last month", starts_at=utcnow() - timedelta(days=40), ends_at=utcnow() - timedelta(days=40, hours=-2))
    make_event(title="Last week", starts_at=utcnow() - timedelta(days=7), ends_at=utcnow() - timedelta(days=7, hours=-2))
    make_event(title="Next month")
    since = (utcnow() - timedelta(days=20)).astimezone(SGT).date().isoformat()
    assert titles(client.get(f"/events?when=past&from={since}").text) == ["Last week"]
    assert titles(client.get(f"/events?from={since}").text) == ["Next month"]


def test_paging_keeps_the_dates(client, make_event):
    for day in range(21):
        make_event(title=f"Day {day + 1}", starts_at=sgt(2030, 5, 1 + day, 10), ends_at=sgt(2030, 5, 1 + day, 12))
    make_event(title="June", starts_at=sgt(2030, 6, 5, 10), ends_at=sgt(2030, 6, 5, 12))
    first = client.get("/events?from=2030-05-01&to=2030-05-31")
    assert "21 events, page 1 of 2" in first.text
    following = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert following is not None
    second = client.get(unescape(following.group(1)))
    assert titles(second.text) == ["Day 21"]


@pytest.mark.parametrize(("query", "message"), [
    ("from=2030-02-30", "“from” must be a date written as YYYY-MM-DD"),
    ("from=tomorrow", "“from” must be a date written as YYYY-MM-DD"),
    ("to=30-03-2030", "“to” must be a date written as YYYY-MM-DD"),
    ("to=2030-3-1", "“to” must be a date written as YYYY-MM-DD"),
    ("from=2030-13-01", "“from” must be a date written as YYYY-MM-DD"),
    ("from=%EF%BC%92030-01-01", "“from” must be a date written as YYYY-MM-DD"),
    ("from=9999-12-31", "“from” must be a date between the years 2000 and 2100"),
    ("from=2030-03-31&to=2030-03-01", "“to” is before “from”"),
])
def test_bad_dates_are_refused_with_a_clear_message(client, make_event, query, message):
    make_event()
    page = client.get(f"/events?{query}")
    assert page.status_code == 400
    assert message in unescape(page.text)


def test_the_results_come_before_the_filters_which_open_when_one_is_in_use(client, make_event):
    make_event(title="Something on")
    plain = client.get("/events").text
    details = re.search(r"<details[^>]*>\s*<summary>Filter events</summary>", plain)
    assert details is not None and " open" not in details.group(0)
    # The search box stays outside the disclosure, in view.
    assert plain.index('id="q"') < details.start() < plain.index('id="programme"')
    for query in ("category=seminar", "from=2030-01-01", "to=2030-01-01", "when=past", "programme=tatc"):
        shown = client.get(f"/events?{query}").text
        assert re.search(r"<details[^>]* open>\s*<summary>Filter events</summary>", shown), query
        assert "Clear the filters" in shown
    searched = client.get("/events?q=something").text
    assert re.search(r"<details[^>]* open>", searched) is None


def test_this_month_links_to_the_current_month_in_the_site_zone_keeping_the_other_filters(client, make_event):
    make_event()
    today = utcnow().astimezone(SGT).date()
    first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    page = client.get("/events?category=seminar&page=2").text
    link = re.search(r'<a href="([^"]+)">This month</a>', page)
    assert link is not None
    href = unescape(link.group(1))
    assert f"from={first.isoformat()}" in href and f"to={last.isoformat()}" in href
    assert "category=seminar" in href and "page=" not in href
    this_month = client.get(href)
    assert this_month.status_code == 200


def test_a_cancelled_event_in_the_range_is_still_listed(client, make_event):
    make_event(title="Called off", status=EventStatus.CANCELLED, starts_at=sgt(2030, 3, 3, 10), ends_at=sgt(2030, 3, 3, 12))
    assert titles(client.get("/events?from=2030-03-01&to=2030-03-31").text) == ["Called off"]


def test_the_sessions_a_search_finds_keep_to_the_dates(client, run, make_event):
    conference = make_event(title="Harbour conference", category="conference", starts_at=sgt(2030, 3, 4, 9), ends_at=sgt(2030, 3, 5, 17))
    add_session(run, conference, "docks", sgt(2030, 3, 4, 10), sgt(2030, 3, 4, 11), title="Docks and dredging")
    assert "Docks and dredging" in client.get("/events?q=dredging&from=2030-03-01&to=2030-03-31").text
    assert "Docks and dredging" not in client.get("/events?q=dredging&from=2030-04-01").text
    assert "Docks and dredging" not in client.get("/events?q=dredging&to=2030-03-03").text


"""The public pages, through the client: what a visitor sees."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest

from portal.db import utcnow
from portal.models import Admission, EventStatus, RegistrationStatus
from tests.conftest import csrf_from, future


def titles(html: str) -> list[str]:
    """The event titles listed on a page, in order."""
    return [unescape(t) for t in re.findall(r'<h3><a href="(?:http://testserver)?/events/[^"]+">([^<]+)</a></h3>', html)]


def links(html: str) -> set[str]:
    """Every href on a page, as a path (url_for writes absolute URLs)."""
    return {h.removeprefix("http://testserver") for h in re.findall(r'href="([^"]*)"', html)}


def test_home_shows_upcoming_events_and_programmes(client, make_programme, make_event):
    programme = make_programme(code="tatc", name="Terrorism Analyst Training Course")
    make_event(title="Maritime security today")
    make_event(title="TATC run", programme_id=programme.id)
    make_event(title="Long ago", starts_at=future(-10), ends_at=future(-10) + timedelta(hours=2))
    make_event(title="Secret draft", status=EventStatus.DRAFT, published_at=None)

    page = client.get("/")

    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert set(titles(page.text)) == {"Maritime security today", "TATC run"}
    assert "Terrorism Analyst Training Course" in page.text
    assert "/programmes/tatc" in links(page.text)


def test_events_listing_shows_upcoming_soonest_first(client, make_event):
    make_event(title="Later", starts_at=future(20), ends_at=future(20) + timedelta(hours=1))
    make_event(title="Sooner", starts_at=future(5), ends_at=future(5) + timedelta(hours=1))
    make_event(title="Past one", starts_at=future(-5), ends_at=future(-5) + timedelta(hours=1))
    make_event(title="Hidden draft", status=EventStatus.DRAFT, published_at=None)
    make_event(title="Called off", status=EventStatus.CANCELLED)

    page = client.get("/events")

    assert page.status_code == 200
    assert titles(page.text) == ["Sooner", "Later", "Called off"]
    assert "3 events" in page.text


def test_events_listing_filters_by_programme_and_category(client, make_programme, make_event):
    tatc = make_programme(code="tatc")
    iccs = make_programme(code="iccs")
    make_event(title="TATC course", programme_id=tatc.id, category="course")
    make_event(title="ICCS conference", programme_id=iccs.id, category="conference")
    make_event(title="A webinar", category="webinar")

    assert titles(client.get("/events?programme=tatc").text) == ["TATC course"]
    assert titles(client.get("/events?category=webinar").text) == ["A webinar"]
    assert titles(client.get("/events?programme=iccs&category=webinar").text) == []
    assert titles(client.get("/events?programme=nope").text) == []
    assert len(titles(client.get("/events?programme=&category=").text)) == 3


def test_events_search_by_text(client, make_event):
    make_event(title="Maritime Security in the South China Sea")
    make_event(title="Cyber norms", description="A talk on **maritime** cables")
    make_event(title="Book launch", venue="Marina Bay Sands")
    make_event(title="100% Renewable")
    make_event(title="snake_case naming")

    assert sorted(titles(client.get("/events?q=MARITIME").text)) == ["Cyber norms", "Maritime Security in the South China Sea"]
    assert titles(client.get("/events?q=marina").text) == ["Book launch"]
    assert titles(client.get("/events?q=nothing+like+this").text) == []
    # Punctuation only separates words (tests/catalogue/test_search.py has the rest): the
    # words around it are searched, and punctuation alone, even a LIKE wildcard, finds nothing.
    assert titles(client.get("/events", params={"q": "100%"}).text) == ["100% Renewable"]
    assert titles(client.get("/events", params={"q": "snake_case"}).text) == ["snake_case naming"]
    for q in ("%", "_", "\\"):
        assert titles(client.get("/events", params={"q": q}).text) == []
    # What was searched for stays in the box, escaped.
    page = client.get("/events", params={"q": '<script>"x"'})
    assert page.status_code == 200
    assert "<script>\"x\"" not in page.text
    assert 'value="&lt;script&gt;&#34;x&#34;"' in page.text


def test_past_events(client, make_event):
    make_event(title="Upcoming")
    make_event(title="Last year", starts_at=future(-365), ends_at=future(-365) + timedelta(hours=2))
    make_event(title="Last week", starts_at=future(-7), ends_at=future(-7) + timedelta(hours=2))

    page = client.get("/events?when=past")

    assert page.status_code == 200
    assert "Past events" in page.text
    assert titles(page.text) == ["Last week", "Last year"]  # latest first


def test_pagination(client, make_event):
    for i in range(25):
        make_event(title=f"Event number {i:02d}", starts_at=future(10 + i), ends_at=future(10 + i) + timedelta(hours=1))

    first = client.get("/events")
    second = client.get("/events?page=2")

    assert titles(first.text) == [f"Event number {i:02d}" for i in range(20)]
    assert titles(second.text) == [f"Event number {i:02d}" for i in range(20, 25)]
    assert "page 1 of 2" in first.text and "page 2 of 2" in second.text
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text

    for bad in ["abc", "0", "-1", "1.5", "", "99999999999999999999", "%00"]:
        page = client.get(f"/events?page={bad}")
        assert page.status_code == 200, bad
        assert titles(page.text) == titles(first.text), bad
    # Past the last page (an old link): the last page, not "page 99999 of 2, no events match".
    beyond = client.get("/events?page=99999")
    assert beyond.status_code == 200
    assert titles(beyond.text) == titles(second.text) and "page 2 of 2" in beyond.text
    assert "No events match" not in beyond.text


@pytest.mark.parametrize(
    "query",
    ["q=" + "x" * 5000, "programme=%ff%fe", "category=%00", "q=a%00b", "programme=%00", "q=%00", "when=future", "q=%F0%9F%98%80", "page=%E2%91%A0"],
)
def test_odd_listing_queries_never_fail(client, make_event, query):
    make_event()
    page = client.get(f"/events?{query}")
    assert page.status_code == 200


# --- the event page ---------------------------------------------------------------------


def _at(hour_utc: int, days: int = 40) -> datetime:
    day = (utcnow() + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour_utc, tzinfo=timezone.utc)


def test_event_page_shows_time_in_the_events_zone_with_the_zone_named(client, make_event):
    start = _at(1)
    event = make_event(title="Singapore talk", starts_at=start, ends_at=start + timedelta(hours=2), timezone="Asia/Singapore")

    page = client.get(f"/events/{event.slug}")

    assert page.status_code == 200
    assert "<h1>Singapore talk</h1>" in page.text
    when = re.search(r"<dt>When</dt>\s*<dd>(.*?)</dd>", page.text, re.S)
    assert when
    text = re.sub(r"<[^>]+>", "", when.group(1))
    assert "09:00" in text and "11:00" in text
    assert "Asia/Singapore" in text
    assert "01:00" not in text
    assert start.strftime("%-d %b %Y") in text


@pytest.mark.parametrize("month", [1, 7])
def test_event_page_in_london_names_gmt_or_bst(client, make_event, month):
    year = utcnow().year + 1
    start = datetime(year, month, 15, 12, tzinfo=timezone.utc)
    event = make_event(starts_at=start, ends_at=start + timedelta(hours=1), timezone="Europe/London")

    text = client.get(f"/events/{event.slug}").text

    if month == 1:
        assert "12:00" in text and "GMT" in text and "BST" not in text
    else:
        assert "13:00" in text and "BST" in text and "GMT" not in text
    assert "Europe/London" in text


def test_event_page_shows_venue_description_and_speakers(client, make_event):
    event = make_event(
        venue="RSIS, Block S4", address="50 Nanyang Avenue",
        description="About **this** talk <script>alert(1)</script>", speakers=["Dr Ang Wei"],
    )
    page = client.get(f"/events/{event.slug}")
    assert "RSIS, Block S4" in page.text and "50 Nanyang Avenue" in page.text
    assert "<strong>this</strong>" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "Dr Ang Wei" in page.text


def state_of(client, slug):  # type: ignore[no-untyped-def]
    page = client.get(f"/events/{slug}")
    assert page.status_code == 200
    match = re.search(r'<dd class="state[^"]*"><strong>(.*?)</strong>', page.text, re.S)
    assert match, "the event page shows no registration state"
    return " ".join(unescape(match.group(1)).split()), page


def test_registration_state_in_plain_words(client, make_event, make_registration):
    open_event = make_event(capacity=10)
    for _ in range(3):
        make_registration(open_event)
    make_registration(open_event, status=RegistrationStatus.CANCELLED, confirmed_at=None)
    words, page = state_of(client, open_event.slug)
    assert words == "7 seats left"
    assert f"/events/{open_event.slug}/register" in links(page.text)

    one_left = make_event(capacity=1)
    assert state_of(client, one_left.slug)[0] == "1 seat left"

    unlimited = make_event(capacity=None)
    assert state_of(client, unlimited.slug)[0] == "Open for registration"

    closes = future(10)
    closing = make_event(registration_closes_at=closes)
    words, _ = state_of(client, closing.slug)
    assert words.startswith("10 seats left · Registration closes ")

    full = make_event(capacity=2, waitlist=True)
    make_registration(full)
    make_registration(full)
    words, page = state_of(client, full.slug)
    assert words == "Full: join the waiting list"
    assert "Join the waiting list" in page.text

    full_no_list = make_event(capacity=1, waitlist=False)
    make_registration(full_no_list)
    words, page = state_of(client, full_no_list.slug)
    assert words == "Full"
    assert f"/events/{full_no_list.slug}/register" not in links(page.text)

    closed = make_event(registration_closes_at=future(-1))
    words, page = state_of(client, closed.slug)
    assert words == "Closed"
    assert f"/events/{closed.slug}/register" not in links(page.text)

    opens = datetime(2030, 3, 4, 12, tzinfo=timezone.utc)
    not_yet = make_event(registration_opens_at=opens, starts_at=opens + timedelta(days=30), ends_at=opens + timedelta(days=30, hours=2))
    assert state_of(client, not_yet.slug)[0] == "Registration opens 4 Mar 2030, 20:00 (Asia/Singapore, UTC+08)"

    cancelled = make_event(status=EventStatus.CANCELLED)
    words, page = state_of(client, cancelled.slug)
    assert words == "Cancelled"
    assert "This event has been cancelled" in page.text
    assert f"/events/{cancelled.slug}/register" not in links(page.text)


def test_registration_state_is_shown_in_listings(client, make_event, make_registration):
    full = make_event(title="Packed house", capacity=1)
    make_registration(full)
    make_event(title="Roomy", capacity=50)
    page = client.get("/events").text
    assert "Full: join the waiting list" in page
    assert "50 seats left" in page


def test_drafts_and_unknown_slugs_are_not_found(client, make_event):
    draft = make_event(status=EventStatus.DRAFT, published_at=None, title="Not yet announced")
    for path in [f"/events/{draft.slug}", f"/events/{draft.slug}/register", "/events/no-such-event", "/events/no-such-event/register", "/events/%00", "/nowhere"]:
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Not yet announced" not in page.text
    assert "Not yet announced" not in client.get("/events").text
    assert "Not yet announced" not in client.get("/").text


# --- programmes -------------------------------------------------------------------------


def test_programme_pages_list_their_runs(client, make_programme, make_event):
    appsmo = make_programme(code="appsmo", name="Asia-Pacific Programme for Senior Military Officers", admission=Admission.NOMINATION, summary="For senior officers")
    other = make_programme(code="iccs", name="ICCS")
    make_event(title="APPSMO 2027", programme_id=appsmo.id)
    make_event(title="APPSMO 2025", programme_id=appsmo.id, starts_at=future(-400), ends_at=future(-395))
    make_event(title="APPSMO draft", programme_id=appsmo.id, status=EventStatus.DRAFT, published_at=None)
    make_event(title="ICCS 2027", programme_id=other.id)

    listing = client.get("/programmes")
    assert listing.status_code == 200
    assert "Asia-Pacific Programme for Senior Military Officers" in listing.text
    assert "For senior officers" in listing.text
    assert "/programmes/iccs" in links(listing.text)

    page = client.get("/programmes/appsmo")
    assert page.status_code == 200
    upcoming, _, past = page.text.partition("Past runs")
    assert titles(upcoming) == ["APPSMO 2027"]
    assert titles(past) == ["APPSMO 2025"]
    assert "nomination" in page.text
    assert "ICCS 2027" not in page.text and "APPSMO draft" not in page.text


def test_unknown_programme_is_not_found(client):
    assert client.get("/programmes/nope").status_code == 404
    assert client.get("/programmes/" + "x" * 500).status_code == 404
    assert client.get("/programmes/%00").status_code == 404


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok", "database": "ok"}


# --- privacy --------------------------------------------------------------------------------


def test_public_pages_never_show_who_registered(client, make_programme, make_event, make_registration):
    programme = make_programme(code="tatc")
    event = make_event(programme_id=programme.id, capacity=1, title="Quiet seminar")
    form = client.get(f"/events/{event.slug}/register")
    response = client.post(
        f"/events/{event.slug}/register",
        data={
            "csrf_token": csrf_from(form.text), "name": "Zebulon Quartermaine", "email": "zq@secret-example.org",
            "organisation": "Hush Ministry", "billing_contact": "Bill Payer", "billing_email": "bills@secret-example.org", "consent": "y",
        },
    )
    assert response.status_code == 303
    make_registration(event, name="Wilhelmina Waitlisted", email="ww@secret-example.org", status=RegistrationStatus.WAITLISTED)
    # The thank-you page shows the browser that registered its own address back (a cookie for
    # that page alone), and nothing of anyone else.
    own = client.get(f"/events/{event.slug}/registered").text
    assert "zq@secret-example.org" in own and "ww@secret-example.org" not in own and "Zebulon" not in own
    client.cookies.clear()

    pages = [
        "/", "/events", "/events?q=Quiet", f"/events/{event.slug}", f"/events/{event.slug}/register",
        f"/events/{event.slug}/registered", "/programmes", "/programmes/tatc",
    ]
    for path in pages:
        page = client.get(path)
        assert page.status_code in (200, 409), path
        if path != "/programmes":  # that page names programmes, not events
            assert "Quiet seminar" in page.text, path
        for secret in ["Zebulon", "Quartermaine", "secret-example", "Hush Ministry", "Bill Payer", "Wilhelmina"]:
            assert secret not in page.text, (path, secret)
        # No private manage link (a 43-character token); "Lost your link?" at /registrations/lost is public.
        assert not re.search(r"/registrations/[A-Za-z0-9_-]{30,}", page.text), path


def test_seats_left_follow_registrations_and_cancellations_at_once(client, make_event, manage_link):
    event = make_event(capacity=3)
    assert state_of(client, event.slug)[0] == "3 seats left"
    form = client.get(f"/events/{event.slug}/register")
    response = client.post(
        f"/events/{event.slug}/register",
        data={"csrf_token": csrf_from(form.text), "name": "Ann Lee", "email": "ann@example.org", "consent": "y"},
    )
    assert response.status_code == 303
    assert state_of(client, event.slug)[0] == "2 seats left"
    assert "2 seats left" in client.get("/events").text

    token = manage_link("ann@example.org")
    ask = client.get(f"/registrations/{token}/cancel")
    assert client.post(f"/registrations/{token}/cancel", data={"csrf_token": csrf_from(ask.text)}).status_code == 303
    assert state_of(client, event.slug)[0] == "3 seats left"


def test_the_online_link_is_not_public(client, make_event):
    event = make_event(online_url="https://zoom.example/j/123456789?pwd=secret")
    for path in [f"/events/{event.slug}", "/events", "/"]:
        assert "zoom.example" not in client.get(path).text, path

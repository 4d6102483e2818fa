"""A conference's public pages as a visitor sees them: the timetable on the event page, a
session's page, a speaker's page and photo, the listing's search of sessions and speakers,
and the session places a kept page shows after a choice."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import run_unit_of_work, utcnow
from portal.models import Event, EventStatus, SessionChoice, SessionKind, SessionStatus, Speaker
from portal.web import fragments
from tests.conftest import BASE_URL
from tests.timetables import add_session, add_speakers, choose

SGT = ZoneInfo("Asia/Singapore")
HOSTILE = '<script>alert("x")</script>'


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SGT)


@pytest.fixture
def day() -> date:
    return (utcnow() + timedelta(days=40)).astimezone(SGT).date()


@pytest.fixture
def conference(make_event, run, day):  # type: ignore[no-untyped-def]
    event = make_event(slug="iccs", title="ICCS 2027", starts_at=at(day, 8), ends_at=at(day + timedelta(days=1), 18), capacity=None)
    add_speakers(
        run,
        {"key": "tan", "name": "Dr Tan Ah Kow", "affiliation": "RSIS", "title": "Professor", "bio": "Works on *cohesion*."},
        {"key": "lee", "name": "Lee Wen Hui", "affiliation": "NUS"},
    )
    made = {
        "opening": add_session(run, event, "opening", at(day, 9), at(day, 10), title="Opening keynote", kind=SessionKind.KEYNOTE,
                               room="Auditorium", speakers=["tan"], description="Welcome, **everyone**."),
        "ws-a": add_session(run, event, "ws-a", at(day, 10, 30), at(day, 12), title="Workshop A: Faith and the city",
                            kind=SessionKind.WORKSHOP, room="Room 2", track="Workshops", choose=True, places=2, waitlist=True,
                            speakers=["lee", "tan"]),
        "ws-b": add_session(run, event, "ws-b", at(day, 10, 30), at(day, 12), title="Workshop B: Trust", kind=SessionKind.WORKSHOP,
                            room="Room 3", choose=True, places=2),
        "ws-c": add_session(run, event, "ws-c", at(day, 10, 30), at(day, 12), title="Workshop C: Youth", kind=SessionKind.WORKSHOP,
                            room="Auditorium", choose=True, places=1),
        "coffee": add_session(run, event, "coffee", at(day, 12), at(day, 12, 15), title="Coffee break", kind=SessionKind.BREAK,
                              room="Foyer"),
        "dropped": add_session(run, event, "dropped", at(day + timedelta(days=1), 9), at(day + timedelta(days=1), 10),
                               title="A talk that will not happen", room="Auditorium", status=SessionStatus.CANCELLED),
    }
    return event, made


def jsonld(page: str) -> dict:  # type: ignore[type-arg]
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.DOTALL)
    assert match
    return json.loads(match.group(1))


def session_item(page: str, key: str) -> str:
    """The timetable's item for one session, as HTML."""
    match = re.search(rf'<li id="session-{key}".*?</li>', page, re.DOTALL)
    assert match, f"no session-{key} on the page"
    return match.group(0)


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def test_the_event_page_shows_the_timetable_by_day_with_places_and_labels(client, conference, make_registration, run, day) -> None:
    event, made = conference
    for _ in range(2):
        choose(run, make_registration(event), made["ws-a"])
    choose(run, make_registration(event), made["ws-b"])
    choose(run, make_registration(event), made["ws-c"])
    page = client.get("/events/iccs").text
    assert '<h2 id="timetable-heading">Timetable</h2>' in page
    assert "Times are in Asia/Singapore (UTC+08:00)." in page
    for d in (day, day + timedelta(days=1)):
        assert f'<h3 id="day-{d.isoformat()}-heading">{d.strftime("%A %-d %B %Y")}</h3>' in page
    opening = session_item(page, "opening")
    assert 'href="/events/iccs/sessions/opening"' in opening
    assert 'href="/speakers/tan"' in opening
    assert "span-all" in opening  # nothing else happens at 9
    assert "room-2" in session_item(page, "ws-a") and "room-3" in session_item(page, "ws-b")
    assert "Full — waiting list open" in text_of(session_item(page, "ws-a"))
    assert "1 place left" in text_of(session_item(page, "ws-b"))
    assert re.search(r"\bFull\b", text_of(session_item(page, "ws-c")))
    assert "waiting list" not in text_of(session_item(page, "ws-c"))
    # A break is a quiet row: no heading, no page of its own, its room named.
    coffee = session_item(page, "coffee")
    assert "<h4" not in coffee and "/sessions/coffee" not in coffee and "Foyer" in coffee
    dropped = session_item(page, "dropped")
    assert "Cancelled" in text_of(dropped) and "<s>A talk that will not happen</s>" in dropped
    assert "/static/js/timetable.js" in page


def test_the_timetable_shows_every_change_at_once(client, conference, make_registration, run, day) -> None:
    """Each day of the timetable is kept rendered (web/fragments.py) while it would come out
    the same: a renamed speaker, a moved or retitled session, a place taken, a cancellation
    each show on the next visit, on the day they belong to, and the other day is unchanged."""
    event, made = conference
    before = client.get("/events/iccs").text
    assert "1 place left" in text_of(session_item(before, "ws-c"))
    add_speakers(run, {"key": "lee", "name": "Lee Wen-Hui Ling", "affiliation": "NUS"})
    add_session(run, event, "ws-b", at(day, 10, 45), at(day, 12), title="Workshop B: Trust, again", kind=SessionKind.WORKSHOP,
                room="Room 3", choose=True, places=2)
    choose(run, make_registration(event), made["ws-c"])
    add_session(run, event, "opening", at(day, 9), at(day, 10), title="Opening keynote", kind=SessionKind.KEYNOTE,
                room="Auditorium", speakers=["tan"], status=SessionStatus.CANCELLED)
    after = client.get("/events/iccs").text
    assert "Lee Wen-Hui Ling" in text_of(session_item(after, "ws-a"))
    assert "Workshop B: Trust, again" in text_of(session_item(after, "ws-b")) and "10:45–12:00" in text_of(session_item(after, "ws-b"))
    assert re.search(r"\bFull\b", text_of(session_item(after, "ws-c")))
    assert "Cancelled" in text_of(session_item(after, "opening"))
    # The structured data too (its sessions' JSON is kept the same way).
    subs = {s["name"]: s for s in jsonld(after)["subEvent"]}
    assert [p["name"] for p in subs["Workshop A: Faith and the city"]["performer"]] == ["Lee Wen-Hui Ling", "Dr Tan Ah Kow"]
    assert subs["Workshop B: Trust, again"]["startDate"].endswith("10:45:00+08:00")
    assert subs["Opening keynote"]["eventStatus"] == "https://schema.org/EventCancelled"
    # The second day, untouched, is the same HTML as before.
    second = f'id="day-{(day + timedelta(days=1)).isoformat()}"'
    assert after.split(second, 1)[1].split("</section>", 1)[0] == before.split(second, 1)[1].split("</section>", 1)[0]


def test_an_event_without_sessions_has_no_timetable(client, make_event) -> None:
    event = make_event()
    page = client.get(f"/events/{event.slug}").text
    assert 'id="timetable"' not in page and "timetable.js" not in page
    assert "subEvent" not in page


def test_the_event_json_ld_holds_the_sessions_and_their_speakers(client, conference) -> None:
    data = jsonld(client.get("/events/iccs").text)
    subs = {s["name"]: s for s in data["subEvent"]}
    assert "Coffee break" not in subs
    opening = subs["Opening keynote"]
    assert opening["url"] == "http://testserver/events/iccs/sessions/opening"
    assert opening["startDate"].endswith("09:00:00+08:00") and opening["location"]["name"] == "Auditorium"
    assert opening["performer"] == [{
        "@type": "Person", "name": "Dr Tan Ah Kow", "url": "http://testserver/speakers/tan",
        "worksFor": {"@type": "Organization", "name": "RSIS"},
    }]


def test_each_day_is_rendered_once_until_it_changes(client, conference, make_event, run, day) -> None:
    """The kept days (web/fragments.py): a change elsewhere on the site renders the page again
    but no day; a session moved on the first day renders that day alone."""
    event, _ = conference
    fragments.timetable_days.clear()
    client.get("/events/iccs")
    assert len(fragments.timetable_days) == 2
    make_event(title="Another event")  # the site's data changed: the page is made again
    client.get("/events/iccs")
    assert len(fragments.timetable_days) == 2
    add_session(run, event, "ws-b", at(day, 10, 45), at(day, 12), title="Workshop B: Trust", kind=SessionKind.WORKSHOP,
                room="Room 3", choose=True, places=2)
    client.get("/events/iccs")
    assert len(fragments.timetable_days) == 3  # the first day's new rendering beside the old


def test_a_cancelled_conference_cancels_its_sessions_in_the_json_ld(client, conference, run) -> None:
    event, _ = conference
    assert {s["eventStatus"] for s in jsonld(client.get("/events/iccs").text)["subEvent"]} == {
        "https://schema.org/EventScheduled", "https://schema.org/EventCancelled",  # the dropped talk
    }
    run(lambda session: session.execute(update(Event).where(Event.id == event.id).values(status=EventStatus.CANCELLED)))
    data = jsonld(client.get("/events/iccs").text)
    assert data["eventStatus"] == "https://schema.org/EventCancelled"
    assert {s["eventStatus"] for s in data["subEvent"]} == {"https://schema.org/EventCancelled"}


def test_a_session_page_says_what_when_where_and_who(client, conference, day) -> None:
    response = client.get("/events/iccs/sessions/ws-a")
    assert response.status_code == 200
    page = response.text
    shown = text_of(page)
    assert "<h1>Workshop A: Faith and the city</h1>" in page
    assert f"{day.strftime('%a %-d %b %Y')}, 10:30 – 12:00 (Asia/Singapore, UTC+08)" in shown
    assert "Room 2" in shown and "Workshops" in shown and "Workshop" in shown
    assert "2 places left" in shown
    speakers = re.search(r'<ul class="speaker-list">.*?</ul>', page, re.DOTALL)
    assert speakers is not None
    assert re.findall(r'href="http://testserver/speakers/([a-z]+)"', speakers.group(0)) == ["lee", "tan"]
    assert "Professor, RSIS" in text_of(speakers.group(0))
    assert 'href="http://testserver/events/iccs/sessions/ws-a/calendar.ics"' in page
    assert 'href="http://testserver/events/iccs#session-ws-a"' in page
    assert "<strong>everyone</strong>" in client.get("/events/iccs/sessions/opening").text


def test_a_cancelled_session_says_so_and_offers_no_calendar(client, conference) -> None:
    page = client.get("/events/iccs/sessions/dropped").text
    assert "This session has been cancelled." in page
    assert "calendar.ics" not in page


def test_unknown_sessions_and_drafts_are_not_found(client, conference, make_event, run, day) -> None:
    assert client.get("/events/iccs/sessions/no-such-session").status_code == 404
    assert client.get("/events/no-such-event/sessions/opening").status_code == 404
    draft = make_event(slug="draft-conf", status=EventStatus.DRAFT, starts_at=at(day, 8), ends_at=at(day, 18))
    add_speakers(run, {"key": "hidden", "name": "Someone Unannounced"})
    add_session(run, draft, "secret", at(day, 9), at(day, 10), speakers=["hidden"])
    assert client.get("/events/draft-conf/sessions/secret").status_code == 404
    assert client.get("/speakers/hidden").status_code == 404
    assert client.get("/speakers/no-such-speaker").status_code == 404


def test_a_speaker_page_lists_sessions_upcoming_and_past(client, conference, make_event, run, day) -> None:
    start = utcnow().replace(microsecond=0) - timedelta(days=100)
    old = make_event(slug="old-conf", title="ICCS 2025", starts_at=start, ends_at=start + timedelta(days=1))
    add_session(run, old, "retro", start + timedelta(hours=1), start + timedelta(hours=2), title="Looking back", speakers=["tan"])
    draft = make_event(slug="draft-conf", status=EventStatus.DRAFT, starts_at=at(day, 8), ends_at=at(day, 18))
    add_session(run, draft, "secret", at(day, 9), at(day, 10), title="Not announced yet", speakers=["tan"])
    page = client.get("/speakers/tan").text
    assert "<h1>Dr Tan Ah Kow</h1>" in page and "Professor, RSIS" in page and "<em>cohesion</em>" in page
    upcoming = page[page.index('id="upcoming-heading"'):page.index('id="past-heading"')]
    past = page[page.index('id="past-heading"'):]
    assert "Opening keynote" in upcoming and "Workshop A: Faith and the city" in upcoming and "ICCS 2027" in upcoming
    assert "Looking back" in past and "ICCS 2025" in past and "Opening keynote" not in past
    assert "Not announced yet" not in page and "draft-conf" not in page
    # No photo: no image, and the photo's address is not found.
    assert "<img" not in page
    assert client.get("/speakers/tan/photo").status_code == 404


def test_a_speaker_photo_is_served_as_stored_with_nosniff_and_a_long_cache(client, conference, run, settings) -> None:
    name = "A" * 32 + ".jpg"
    directory = settings.upload_directory / "speakers"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(b"\xff\xd8\xff\xe0not really a jpeg")
    run(lambda s: s.execute(update(Speaker).where(Speaker.key == "tan").values(photo=name)))
    page = client.get("/speakers/tan").text
    assert f'src="http://testserver/speakers/tan/photo?v={name}"' in page and 'alt="Photo of Dr Tan Ah Kow"' in page
    photo = client.get(f"/speakers/tan/photo?v={name}")
    assert photo.status_code == 200
    assert photo.content == b"\xff\xd8\xff\xe0not really a jpeg"
    assert photo.headers["content-type"] == "image/jpeg"
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in photo.headers["cache-control"] and "max-age=31536000" in photo.headers["cache-control"]
    # Without the photo's name (or with an old one) it may be kept an hour only.
    assert "immutable" not in client.get("/speakers/tan/photo?v=old.jpg").headers["cache-control"]
    again = client.get(f"/speakers/tan/photo?v={name}", headers={"If-None-Match": photo.headers["etag"]})
    assert again.status_code == 304 and not again.content
    # A photo whose file is gone, or a name the portal could not have given, is not found.
    (directory / name).unlink()
    assert client.get("/speakers/tan/photo").status_code == 404
    run(lambda s: s.execute(update(Speaker).where(Speaker.key == "tan").values(photo="../../secret_key")))
    assert client.get("/speakers/tan/photo").status_code == 404


def test_the_listing_search_finds_sessions_and_speakers_naming_their_event(client, conference) -> None:
    page = client.get("/events", params={"q": "faith city"}).text
    hits = page[page.index('id="timetable-hits-heading"'):page.index('id="results-heading"')]
    assert 'href="http://testserver/events/iccs/sessions/ws-a"' in hits
    assert "Session of ICCS 2027" in text_of(hits)
    page = client.get("/events", params={"q": "wen hui"}).text
    hits = page[page.index('id="timetable-hits-heading"'):page.index('id="results-heading"')]
    assert 'href="http://testserver/speakers/lee"' in hits
    assert "NUS" in text_of(hits) and "Speaker at ICCS 2027" in text_of(hits)
    # The event search itself is as it was: the hits are beside it, not in its count.
    assert "0 events" in text_of(page)
    assert 'id="timetable-hits-heading"' not in client.get("/events", params={"q": "no such words"}).text
    assert 'id="timetable-hits-heading"' not in client.get("/events").text


def test_what_organisers_typed_is_escaped_everywhere(client, make_event, run, day) -> None:
    event = make_event(slug="hostile", title="Conf", starts_at=at(day, 8), ends_at=at(day, 18))
    add_speakers(run, {"key": "eve", "name": f"Eve {HOSTILE}", "affiliation": HOSTILE, "title": HOSTILE, "bio": HOSTILE})
    add_session(run, event, "evil", at(day, 9), at(day, 10), title=f"Talk {HOSTILE}", room=HOSTILE, track=HOSTILE,
                description=HOSTILE, speakers=["eve"])
    for path in ("/events/hostile", "/events/hostile/sessions/evil", "/speakers/eve", "/events?q=talk", "/events?q=eve"):
        page = client.get(path).text
        assert HOSTILE not in page and "<script>alert" not in page, path
        assert "&lt;script&gt;alert" in page, path  # shown, as text
    # Inside the JSON-LD, no title can close the <script> element.
    page = client.get("/events/hostile").text
    ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.DOTALL)
    assert ld and "</script" not in ld.group(1)
    assert jsonld(page)["subEvent"][0]["name"] == f"Talk {HOSTILE}"


def test_a_kept_session_page_shows_the_places_left_after_a_choice(settings, conference, make_registration) -> None:
    event, made = conference
    app = create_app(dataclasses.replace(settings, cache_seconds=3600))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        assert "2 places left" in client.get("/events/iccs/sessions/ws-b").text
        assert "2 places left" in text_of(session_item(client.get("/events/iccs").text, "ws-b"))
        registration = make_registration(event)

        def choose_here(session) -> None:  # type: ignore[no-untyped-def]
            session.add(SessionChoice(registration_id=registration.id, session_id=made["ws-b"].id, event_id=event.id))

        # Made through this process's unit of work, as the registration form would: a choice
        # moves only the event's seats, which the kept pages are watching.
        run_unit_of_work(app.state.sessions, choose_here, write=True, on_commit=app.state.changes.local_write)
        assert "1 place left" in client.get("/events/iccs/sessions/ws-b").text
        assert "1 place left" in text_of(session_item(client.get("/events/iccs").text, "ws-b"))

"""The feeds over HTTP: what each holds, what it never shows, and the HTTP that pollers rely
on (ETag, 304, Last-Modified, HEAD, gzip, Cache-Control)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.catalogue import feeds
from portal.models import EventStatus, RegistrationStatus
from tests.catalogue.feeds.conftest import parse
from tests.conftest import csrf_from, future

CALENDAR = "text/calendar; charset=utf-8"


def test_site_feed_holds_public_events_only(client, make_event):
    published = make_event(title="Published")
    cancelled = make_event(title="Called off", status=EventStatus.CANCELLED)
    draft = make_event(title="Secret draft", status=EventStatus.DRAFT, published_at=None)
    long_past = make_event(starts_at=future(-800), ends_at=future(-800) + timedelta(hours=2))
    recent_past = make_event(starts_at=future(-20), ends_at=future(-20) + timedelta(hours=2))

    response = client.get("/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CALENDAR
    assert response.headers["cache-control"] == "public, max-age=300"
    parsed = parse(response.content)
    assert set(parsed.uids) == {published.uid, cancelled.uid, recent_past.uid}
    assert draft.uid not in parsed.text and "Secret draft" not in parsed.text
    assert long_past.uid not in parsed.text  # more than a year over
    # A cancelled event stays, marked, so that calendars remove or strike it.
    assert str(parsed.event(cancelled.uid)["STATUS"]) == "CANCELLED"
    assert parsed.vevent(cancelled.uid).status.value == "CANCELLED"
    # Soonest first.
    assert parsed.uids.index(recent_past.uid) < parsed.uids.index(published.uid)


def test_filters_by_programme_and_category(client, make_event, make_programme):
    tatc = make_programme(code="tatc", name="Terrorism Analyst Training Course")
    course = make_event(programme_id=tatc.id, category="course")
    webinar = make_event(programme_id=tatc.id, category="webinar")
    other = make_event(category="webinar")

    assert set(parse(client.get("/calendar.ics?programme=tatc").content).uids) == {course.uid, webinar.uid}
    assert set(parse(client.get("/calendar.ics?category=webinar").content).uids) == {webinar.uid, other.uid}
    both = parse(client.get("/calendar.ics?programme=tatc&category=webinar").content)
    assert both.uids == [webinar.uid]
    assert both.vobj.x_wr_calname.value == "RSIS Events: Terrorism Analyst Training Course (Webinar)"
    assert parse(client.get("/calendar.ics?category=nothing-here").content).uids == []

    programme_feed = parse(client.get("/programmes/tatc/calendar.ics").content)
    assert set(programme_feed.uids) == {course.uid, webinar.uid}
    assert programme_feed.vobj.x_wr_calname.value == "RSIS Events: Terrorism Analyst Training Course"

    assert client.get("/calendar.ics?programme=nope").status_code == 404
    assert client.get("/programmes/nope/calendar.ics").status_code == 404


def test_event_feed(client, make_event):
    event = make_event(title="One event")
    response = client.get(f"/events/{event.slug}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CALENDAR
    parsed = parse(response.content)
    assert parsed.uids == [event.uid]
    assert parsed.vobj.x_wr_calname.value == "RSIS Events: One event"

    draft = make_event(status=EventStatus.DRAFT)
    assert client.get(f"/events/{draft.slug}/calendar.ics").status_code == 404
    assert client.get("/events/no-such-event/calendar.ics").status_code == 404


def test_uid_stays_and_sequence_rises_through_edits(client, make_event, edit_event):
    event = make_event(title="Before")
    path = f"/events/{event.slug}/calendar.ics"
    first = parse(client.get(path).content).event(event.uid)
    assert int(first["SEQUENCE"]) == 0

    edit_event(event.slug, title="After, renamed")
    renamed = parse(client.get(path).content)
    assert renamed.uids == [event.uid]
    assert str(renamed.event(event.uid)["SUMMARY"]) == "After, renamed"
    assert int(renamed.event(event.uid)["SEQUENCE"]) == 0  # the title is not the schedule
    assert renamed.event(event.uid)["LAST-MODIFIED"].dt >= first["LAST-MODIFIED"].dt

    later = event.starts_at + timedelta(days=1)
    edit_event(event.slug, starts_at=later, ends_at=later + timedelta(hours=3))
    moved = parse(client.get(path).content)
    assert moved.uids == [event.uid]
    assert moved.event(event.uid).start == later
    assert moved.vevent(event.uid).dtstart.value == later
    assert int(moved.event(event.uid)["SEQUENCE"]) == 1

    edit_event(event.slug, status=EventStatus.CANCELLED)
    cancelled = parse(client.get("/calendar.ics").content)
    assert event.uid in cancelled.uids
    assert str(cancelled.event(event.uid)["STATUS"]) == "CANCELLED"
    assert int(cancelled.event(event.uid)["SEQUENCE"]) == 2


def test_conditional_get_answers_304_without_building(client, make_event, statements, monkeypatch):
    make_event()
    first = client.get("/calendar.ics")
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["last-modified"].endswith(" GMT")

    def must_not_build(*args, **kwargs):
        raise AssertionError("the feed was built again")

    monkeypatch.setattr(feeds, "site_feed", must_not_build)
    statements.clear()
    again = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=300"
    # The only query is the change tracker's (tests re-read it every time: cache_seconds=0).
    assert [s for s in statements if s.split()[0].upper() == "SELECT"] == ["SELECT version FROM change_marker WHERE id = 1"]
    assert not any("events" in s for s in statements)

    # Several tags, a weak form, and the other coding's tag all match this content.
    assert client.get("/calendar.ics", headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get("/calendar.ics", headers={"If-None-Match": '"something-else"'}).status_code == 200
    assert client.get("/calendar.ics", headers={"If-Modified-Since": first.headers["last-modified"]}).status_code == 304


def test_a_write_changes_what_is_served(client, make_event, edit_event):
    event = make_event(capacity=5)
    before = client.get("/calendar.ics")
    etag = before.headers["etag"]

    edit_event(event.slug, title="Renamed")
    after = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert "Renamed" in parse(after.content).text
    assert after.headers["last-modified"] != before.headers["last-modified"] or after.content != before.content


def test_registering_someone_leaves_public_pollers_with_a_304_but_moves_their_own_feed(client, make_event, manage_link, monkeypatch):
    event = make_event(capacity=5)
    other = make_event(capacity=5)
    public = client.get("/calendar.ics")

    def register(slug: str) -> None:
        page = client.get(f"/events/{slug}/register")
        data = {"csrf_token": csrf_from(page.text), "name": "Ann Lee", "email": "ann@example.org", "consent": "y"}
        assert client.post(f"/events/{slug}/register", data=data).status_code == 303

    register(event.slug)
    token = manage_link("ann@example.org")
    personal = client.get(f"/registrations/{token}/calendar.ics")
    assert parse(personal.content).uids == [event.uid]

    # A registration changes seats, which no public feed shows: the kept feed is not even
    # built again, and its pollers keep their copy.
    built = []
    real = feeds.site_feed
    monkeypatch.setattr(feeds, "site_feed", lambda *a, **k: built.append(1) or real(*a, **k))
    register(other.slug)
    assert client.get("/calendar.ics", headers={"If-None-Match": public.headers["etag"]}).status_code == 304
    assert built == []
    # The person's own feed did change.
    moved = client.get(f"/registrations/{token}/calendar.ics", headers={"If-None-Match": personal.headers["etag"]})
    assert moved.status_code == 200
    assert set(parse(moved.content).uids) == {event.uid, other.uid}


def test_head_gives_the_headers_without_the_body(client, make_event):
    for _ in range(3):
        make_event()
    get = client.get("/calendar.ics")
    head = client.head("/calendar.ics")
    assert head.status_code == 200
    assert head.content == b""
    for name in ("etag", "content-type", "content-length", "last-modified", "cache-control"):
        assert head.headers[name] == get.headers[name]
    event = make_event()
    assert client.head(f"/events/{event.slug}/calendar.ics").status_code == 200
    assert client.head("/events.atom").status_code == 200


def test_gzip_when_asked(client, make_event):
    for _ in range(5):
        make_event(description="A long description. " * 20)
    plain = client.get("/calendar.ics", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"  # once, though the middleware adds it too
    packed = client.get("/calendar.ics", headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert packed.content == plain.content  # the client decoded it
    assert packed.headers["etag"] != plain.headers["etag"]  # each coding its own strong tag
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    again = client.get("/calendar.ics", headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["vary"] == "Accept-Encoding"
    head = client.head("/calendar.ics", headers={"Accept-Encoding": "gzip"})
    assert head.headers["content-encoding"] == "gzip" and head.headers["etag"] == packed.headers["etag"]
    assert head.headers["content-length"] == packed.headers["content-length"]


def test_personal_feed(client, make_event, make_registration):
    seminar, course, waitlisted, pending, gone, rejected, not_mine = (make_event() for _ in range(7))
    email = "ann@example.org"
    mine = make_registration(seminar, email=email)
    make_registration(course, email=email, status=RegistrationStatus.CONFIRMED)
    make_registration(waitlisted, email=email, status=RegistrationStatus.WAITLISTED)
    make_registration(pending, email=email, status=RegistrationStatus.PENDING, confirmed_at=None)
    make_registration(gone, email=email, status=RegistrationStatus.CANCELLED, confirmed_at=None)
    make_registration(rejected, email=email, status=RegistrationStatus.REJECTED, confirmed_at=None)
    make_registration(not_mine, email="bob@example.org", name="Bob Tan")

    response = client.get(f"/registrations/{mine.token}/calendar.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CALENDAR
    assert response.headers["cache-control"] == "private, max-age=300"
    assert "noindex" in response.headers["x-robots-tag"]
    parsed = parse(response.content)
    assert set(parsed.uids) == {seminar.uid, course.uid, waitlisted.uid, pending.uid}
    assert "bob@example.org" not in parsed.text and "Bob Tan" not in parsed.text
    # A seat is settled and busy; a place in the queue or an application is neither, and says so.
    for event, title, status, transp in (
        (seminar, seminar.title, "CONFIRMED", "OPAQUE"),
        (waitlisted, f"Waiting list: {waitlisted.title}", "TENTATIVE", "TRANSPARENT"),
        (pending, f"Pending: {pending.title}", "TENTATIVE", "TRANSPARENT"),
    ):
        component = parsed.event(event.uid)
        assert (str(component["SUMMARY"]), str(component["STATUS"]), str(component["TRANSP"])) == (title, status, transp)

    assert client.get("/registrations/not-a-real-token/calendar.ics").status_code == 404
    assert client.get(f"/registrations/{mine.token[:-2]}xx/calendar.ics").status_code == 404
    assert client.get(f"/registrations/{'a' * 100}/calendar.ics").status_code == 404


def test_personal_feed_leaves_out_drafts(client, make_event, make_registration, edit_event):
    kept, unpublished = make_event(), make_event()
    mine = make_registration(kept, email="ann@example.org")
    make_registration(unpublished, email="ann@example.org")
    edit_event(unpublished.slug, status=EventStatus.DRAFT)
    assert parse(client.get(f"/registrations/{mine.token}/calendar.ics").content).uids == [kept.uid]


def test_public_feeds_never_show_who_registered(client, make_event, make_registration, make_programme):
    programme = make_programme(code="iccs")
    event = make_event(programme_id=programme.id)
    registration = make_registration(event, email="secret.person@example.org", name="Zelda Quux", organisation="Hidden Ministry")
    for path in ("/calendar.ics", "/programmes/iccs/calendar.ics", f"/events/{event.slug}/calendar.ics", "/events.atom"):
        text = client.get(path).text
        for secret in ("secret.person", "Zelda", "Quux", "Hidden Ministry", registration.token):
            assert secret not in text, (path, secret)


@pytest.mark.parametrize("path", ["/calendar.ics", "/events.atom"])
def test_feeds_are_cached_per_change(client, make_event, statements, path):
    make_event()
    client.get(path)
    statements.clear()
    assert client.get(path).status_code == 200
    assert not any("events" in s for s in statements)

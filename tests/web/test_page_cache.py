"""Cached public pages never show a stale seat count after a write in the same process, and
pick up another process's write within PORTAL_CACHE_SECONDS."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from sqlalchemy import select, update
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import read_change_version, transaction
from portal.models import Event, MessageStatus, OutboxMessage, Registration
from portal.registrations.participants import Submission, register
from portal.web import pagecache, public
from tests.conftest import BASE_URL, csrf_from


def _client(settings, cache_seconds):  # type: ignore[no-untyped-def]
    app = create_app(dataclasses.replace(settings, cache_seconds=cache_seconds))
    return TestClient(app, base_url=BASE_URL, follow_redirects=False)


def test_a_registration_in_this_process_shows_at_once_however_long_the_cache_interval(settings, make_event):
    event = make_event(capacity=10)
    with _client(settings, cache_seconds=3600) as client:
        assert "10 seats left" in client.get(f"/events/{event.slug}").text
        assert "10 seats left" in client.get("/events").text
        form = client.get(f"/events/{event.slug}/register")
        response = client.post(
            f"/events/{event.slug}/register",
            data={"csrf_token": csrf_from(form.text), "name": "Ann Lee", "email": "ann@example.org", "consent": "y"},
        )
        assert response.status_code == 303
        assert "9 seats left" in client.get(f"/events/{event.slug}").text
        assert "9 seats left" in client.get("/events").text


def test_another_process_write_is_seen_after_the_interval_and_not_before(settings, make_event, run, site):
    event = make_event(capacity=10)
    with _client(settings, cache_seconds=0.5) as client:
        assert "10 seats left" in client.get(f"/events/{event.slug}").text
        # Another process (here: another engine, outside this app) takes a seat.
        run(register, site, event.slug, Submission(name="Bo", email="bo@example.org"))
        # Within the interval the cached page may still be served: that is the stated delay.
        assert "10 seats left" in client.get(f"/events/{event.slug}").text
        time.sleep(0.6)
        assert "9 seats left" in client.get(f"/events/{event.slug}").text


def test_the_registration_form_is_never_shared_between_visitors(settings, make_event):
    event = make_event()
    with _client(settings, cache_seconds=3600) as first:
        second = TestClient(first.app, base_url=BASE_URL, follow_redirects=False)
        page_a = first.get(f"/events/{event.slug}/register")
        page_b = second.get(f"/events/{event.slug}/register")
        assert first.cookies.get("portal_csrf") != second.cookies.get("portal_csrf")
        assert csrf_from(page_a.text) != csrf_from(page_b.text)
        # Public pages carry no cookie that could be handed on to another visitor.
        assert "set-cookie" not in first.get(f"/events/{event.slug}").headers


def test_a_kept_page_is_sent_again_without_rendering_and_keeps_its_headers(settings, make_event, monkeypatch):
    event = make_event(capacity=10)
    with _client(settings, cache_seconds=3600) as client:
        first = client.get(f"/events/{event.slug}")
        assert first.status_code == 200

        def must_not_render(*args, **kwargs):
            raise AssertionError("the page was rendered again")

        monkeypatch.setattr(public.listing, "get_event_page", must_not_render)
        again = client.get(f"/events/{event.slug}")
        assert again.status_code == 200
        assert again.text == first.text
        assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
        assert again.headers["content-type"].startswith("text/html")
        # HEAD is answered on its own and carries no body.
        head = client.head(f"/events/{event.slug}")
        assert head.status_code == 200 and head.content == b""


def test_a_page_asked_for_under_another_host_is_never_shown_on_this_one(settings, make_event):
    event = make_event()
    with _client(settings, cache_seconds=3600) as client:
        poisoned = client.get(f"/events?q={event.title}", headers={"Host": "evil.example"})
        assert poisoned.status_code == 200
        honest = client.get(f"/events?q={event.title}")
        assert event.title in honest.text
        assert "evil.example" not in honest.text


def test_many_visitors_missing_at_once_cause_one_rendering(settings, make_event, monkeypatch):
    event = make_event()
    app = create_app(dataclasses.replace(settings, cache_seconds=3600))
    original = public.listing.get_event_page
    calls = []

    def slow_page(*args, **kwargs):
        calls.append(1)
        time.sleep(0.2)
        return original(*args, **kwargs)

    monkeypatch.setattr(public.listing, "get_event_page", slow_page)

    async def visit() -> int:
        sent: list[dict] = []
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": f"/events/{event.slug}", "raw_path": f"/events/{event.slug}".encode(),
            "query_string": b"", "root_path": "", "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 1), "server": ("testserver", 80),
        }

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"]

    async def crowd() -> list[int]:
        return await asyncio.gather(*(visit() for _ in range(12)))

    try:
        assert asyncio.run(crowd()) == [200] * 12
    finally:
        app.state.engine.dispose()
    assert len(calls) == 1


def test_delivering_email_leaves_the_kept_pages_in_place_but_an_edit_does_not(settings, make_event, run, sessions, site):
    event = make_event(capacity=10)
    run(register, site, event.slug, Submission(name="Bo", email="bo@example.org"))
    with sessions() as session:
        before = read_change_version(session)
    # What the delivery worker writes (a message marked sent) is not shown on any public page.
    with transaction(sessions, write=True) as session:
        for message in session.scalars(select(OutboxMessage)):
            message.status = MessageStatus.SENT
            message.attempts += 1
    # Nor is a bulk statement on such a table (the worker's claims are UPDATE … WHERE).
    with transaction(sessions, write=True) as session:
        session.execute(update(OutboxMessage).values(attempts=OutboxMessage.attempts + 1))
    with sessions() as session:
        assert read_change_version(session) == before
    # An edit to an event is.
    with transaction(sessions, write=True) as session:
        session.get(Event, event.id).title = "Renamed"
    with sessions() as session:
        assert read_change_version(session) == before + 1


def test_kept_answers_stay_within_their_byte_budget_dropping_the_least_recent():
    class Unchanged:
        seats_epoch = 0
        interval = 1.0

        async def current(self) -> int:
            return 1

        def seats_changed_at(self, event_id: int) -> int:
            return 0

    async def page(scope, receive, send):  # type: ignore[no-untyped-def]
        scope.setdefault("state", {})[pagecache.SHARED] = True
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"x" * 10_000})

    cache = pagecache.SharedResponseCache(page, changes=Unchanged(), max_bytes=50_000)  # type: ignore[arg-type]

    async def get(path: str) -> None:
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": []}

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        async def send(message: dict) -> None:
            pass

        await cache(scope, receive, send)

    async def visit_all() -> None:
        for n in range(20):
            await get(f"/events/e{n}")
        await get("/events/e19")

    asyncio.run(visit_all())
    assert 0 < len(cache) <= 4
    assert cache._bytes <= 50_000
    assert cache.hits == 1  # the newest page was still kept; the oldest were dropped


def _retitle_behind_the_caches_back(sessions, event, title):  # type: ignore[no-untyped-def]
    # Straight SQL, past the unit of work: no cache hears of it, so a page that shows the new
    # title was rendered again, and one that shows the old title was kept.
    with sessions.begin() as session:
        session.execute(update(Event).where(Event.id == event.id).values(title=title).execution_options(synchronize_session=False))


def test_a_registration_moves_only_its_event_seats_not_the_change_marker(settings, make_event, run, sessions, site):
    taken, other = make_event(capacity=10), make_event(capacity=10)

    def versions(session):  # type: ignore[no-untyped-def]
        seats = dict(session.execute(select(Event.id, Event.seats_version)).all())
        return read_change_version(session), seats[taken.id], seats[other.id]

    marker, taken_seats, other_seats = run(versions)
    run(register, site, taken.slug, Submission(name="Bo", email="bo@example.org"))
    assert run(versions) == (marker, taken_seats + 1, other_seats)


def test_a_registration_drops_only_the_pages_that_show_its_event_seats(settings, make_event, sessions):
    taken, other = make_event(capacity=10, title="Taken seats"), make_event(capacity=10, title="Other event")
    with _client(settings, cache_seconds=3600) as client:
        assert "10 seats left" in client.get(f"/events/{taken.slug}").text
        assert "Other event" in client.get(f"/events/{other.slug}").text
        feed = client.get("/calendar.ics")
        assert "Other event" in feed.text
        _retitle_behind_the_caches_back(sessions, other, "Renamed where no cache can see")

        form = client.get(f"/events/{taken.slug}/register")
        registered = client.post(
            f"/events/{taken.slug}/register",
            data={"csrf_token": csrf_from(form.text), "name": "Ann Lee", "email": "ann@example.org", "consent": "y"},
        )
        assert registered.status_code == 303
        # The registered event's page is rendered again with its new count ...
        assert "9 seats left" in client.get(f"/events/{taken.slug}").text
        # ... while the other event's page and the site's feed are still the kept ones.
        assert "Other event" in client.get(f"/events/{other.slug}").text
        again = client.get("/calendar.ics", headers={"If-None-Match": feed.headers["etag"]})
        assert again.status_code == 304


def test_a_page_showing_seats_is_kept_at_most_the_cache_interval(settings, make_event, sessions):
    """Other processes' registrations are not heard of here: a page showing seats is rendered
    again once PORTAL_CACHE_SECONDS have passed, even when nothing moved the change marker."""
    event = make_event(capacity=10, title="Seats shown")
    with _client(settings, cache_seconds=0.5) as client:
        assert "Seats shown" in client.get(f"/events/{event.slug}").text
        _retitle_behind_the_caches_back(sessions, event, "Seen after the interval")
        assert "Seats shown" in client.get(f"/events/{event.slug}").text
        time.sleep(0.6)
        assert "Seen after the interval" in client.get(f"/events/{event.slug}").text


def test_a_statement_on_registrations_that_names_no_event_moves_every_event_and_the_marker(make_event, run, sessions):
    """A bulk UPDATE of registrations does not say whose seats it changed: every event's
    seats_version rises (the roster's kept numbers count again), and the marker moves too."""
    first, second = make_event(), make_event()

    def versions(session):  # type: ignore[no-untyped-def]
        return read_change_version(session), dict(session.execute(select(Event.id, Event.seats_version)).all())

    marker, seats = run(versions)
    with transaction(sessions, write=True) as session:
        session.execute(update(Registration).values(organisation="Renamed in bulk"))
    after_marker, after_seats = run(versions)
    assert after_marker == marker + 1
    assert after_seats[first.id] == seats[first.id] + 1 and after_seats[second.id] == seats[second.id] + 1

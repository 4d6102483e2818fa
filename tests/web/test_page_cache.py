"""Cached public pages never show a stale seat count after a write in the same process, and
pick up another process's write within PORTAL_CACHE_SECONDS."""

from __future__ import annotations

import dataclasses
import time

from starlette.testclient import TestClient

from portal.app import create_app
from portal.services.registrations import Submission, register
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

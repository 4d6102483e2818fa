"""`portal serve --port N` without PORTAL_BASE_URL: the links it puts in feeds and emails
point where it listens, not at the default port."""

from __future__ import annotations

import httpx2 as httpx

from tests.servers import running_portal


def test_serve_on_another_port_links_to_that_port(database_url, tmp_path, make_event):  # type: ignore[no-untyped-def]
    event = make_event()
    env = {"PORTAL_BASE_URL": "", "PORTAL_DATABASE_URL": database_url, "PORTAL_SECRET_KEY": "serve-test", "PORTAL_DELIVER_IN_PROCESS": "0"}
    with running_portal(tmp_path, env) as base:
        feed = httpx.get(f"{base}/events/{event.slug}/calendar.ics").text.replace("\r\n ", "")
        assert f"{base}/events/{event.slug}" in feed
        assert "127.0.0.1:8000" not in feed

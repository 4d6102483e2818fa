"""The `portal` command as a new user runs it: `portal serve --port N` without
PORTAL_BASE_URL links where it listens, and a command run where no database was made says
what to do."""

from __future__ import annotations

import os
import subprocess

import httpx2 as httpx

from tests.servers import PORTAL, running_portal


def test_serve_on_another_port_links_to_that_port(database_url, tmp_path, make_event):  # type: ignore[no-untyped-def]
    event = make_event()
    env = {"PORTAL_BASE_URL": "", "PORTAL_DATABASE_URL": database_url, "PORTAL_SECRET_KEY": "serve-test", "PORTAL_DELIVER_IN_PROCESS": "0"}
    with running_portal(tmp_path, env) as base:
        feed = httpx.get(f"{base}/events/{event.slug}/calendar.ics").text.replace("\r\n ", "")
        assert f"{base}/events/{event.slug}" in feed
        assert "127.0.0.1:8000" not in feed


def test_a_command_run_where_no_database_was_made_says_what_to_do(tmp_path):
    """Run from a directory with no migrated database, `portal` says to upgrade it (or where
    to run from) instead of printing a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    done = subprocess.run(
        [str(PORTAL), "organiser", "add", "x@example.org", "--password-stdin"],
        input="correct horse battery staple\n", capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert done.returncode == 2
    assert "portal db upgrade" in done.stderr and "Traceback" not in done.stderr

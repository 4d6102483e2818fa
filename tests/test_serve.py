"""`portal serve --port N` without PORTAL_BASE_URL: the links it puts in feeds and emails
point where it listens, not at the default port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.test_race_server import _free_port


def test_serve_on_another_port_links_to_that_port(database_url, tmp_path, make_event):  # type: ignore[no-untyped-def]
    event = make_event()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PORTAL_BASE_URL"}
    env.update({"PORTAL_DATABASE_URL": database_url, "PORTAL_SECRET_KEY": "serve-test", "PORTAL_DELIVER_IN_PROCESS": "0"})
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("portal")), "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        feed = httpx.get(f"{base}/events/{event.slug}/calendar.ics").text.replace("\r\n ", "")
        assert f"{base}/events/{event.slug}" in feed
        assert "127.0.0.1:8000" not in feed
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

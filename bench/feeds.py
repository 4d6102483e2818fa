"""The iCalendar feeds under load: build time of a 2,000-event site feed, and requests per
second for that feed in full and for the 304 a conditional GET gets, each as a ratio to a
bare Starlette "hello" endpoint (bench/hello.py) served the same way in the same run.

    .venv/bin/python bench/feeds.py [--events 2000] [--seconds 10] [--runs 2] [--write-readme]

The portal runs under `portal serve` (one worker); the yardstick runs under uvicorn.run with
the settings `portal serve` uses (log config, proxy headers, no server header, one worker).
Both write their access log to /dev/null. Load: wrk, 32 connections, one thread (the other
core is the server's), a 3-second warm-up per path discarded, then `--runs` measured runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx2 as httpx
import uvicorn
from sqlalchemy import insert

from portal import migrate
from portal.calendars import ical
from portal.catalogue import feeds
from portal.db import make_engine, make_session_factory
from portal.logs import log_config
from portal.models import Event, Programme
from portal.site import Site

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
PORTAL = Path(sys.executable).with_name("portal")
BASE_URL = "https://events.example.org"

DESCRIPTION = """The region's maritime order is changing: coast guards, militias and new
technologies blur the line between peace and conflict.

This **seminar** asks what Southeast Asian states can do *together*, and where the law helps:

- incidents at sea and how they escalate;
- undersea cables, ports & data;
- what [ASEAN](https://asean.org) has agreed, and what it has not.

Registration closes two days before the event; seats are limited."""


# --- data -------------------------------------------------------------------------------


def build_database(url: str, events: int) -> None:
    """Migrate and bulk-insert `events` events over six programmes: mostly timed seminars,
    some all-day courses, some online, a few cancelled, all inside the feed's year of history."""
    migrate.upgrade(url)
    engine = make_engine(url)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    codes = ["appsmo", "appsno", "tatc", "isf-asia", "srp-ep", "iccs"]
    with engine.begin() as conn:
        conn.execute(
            insert(Programme),
            [
                {"code": code, "name": f"Programme {code.upper()}", "admission": "open", "summary": "",
                 "description": "", "created_at": now, "updated_at": now}
                for code in codes
            ],
        )
        rows = []
        for i in range(events):
            starts = now + timedelta(days=(i * 7) % 800 - 300, hours=i % 8)
            all_day = i % 10 == 0
            rows.append({
                "uid": f"{i:08d}-bench-feed@portal",
                "slug": f"bench-event-{i}",
                "title": f"Event {i}: maritime security, cyber norms; and what comes next 🌏",
                "programme_id": (i % 8) + 1 if i % 8 < 6 else None,
                "category": ("seminar", "webinar", "course", "lecture", "roundtable")[i % 5],
                "starts_at": starts,
                "ends_at": starts + (timedelta(days=4, hours=8) if all_day else timedelta(hours=1, minutes=30)),
                "timezone": "Asia/Singapore",
                "all_day": all_day,
                "venue": "" if i % 5 == 1 else "Seminar Room 1, RSIS, Block S4",
                "address": "" if i % 5 == 1 else "50 Nanyang Avenue, Singapore 639798",
                "online_url": f"https://meet.example.org/{i}" if i % 5 == 1 else None,
                "capacity": 120,
                "waitlist": True,
                "status": "cancelled" if i % 50 == 0 else "published",
                "description": DESCRIPTION,
                "speakers": ["Dr A. Speaker, Senior Fellow, RSIS", "Ms B. Panellist, Ministry of Foreign Affairs"],
                "sequence": i % 3,
                "published_at": now,
                "created_at": now,
                "updated_at": now - timedelta(minutes=i),
            })
        conn.execute(insert(Event), rows)
    engine.dispose()


# --- building in process ----------------------------------------------------------------


def time_builds(url: str, repeats: int) -> dict[str, float]:
    """Median wall time (ms) of building the site feed: cold (no VEVENT block cached) and
    warm (every block cached, as after the first build), each reading the events afresh."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    site = Site(base_url=BASE_URL)
    since = feeds.history_start(date.today())

    def build() -> feeds.Feed:
        with sessions() as session:
            return feeds.site_feed(session, site, since=since)

    build()  # the first connection and the imports are not what is being measured
    cold, warm = [], []
    for _ in range(repeats):
        ical.vevent_blocks.clear()
        started = time.perf_counter()
        feed = build()
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        build()
        warm.append(time.perf_counter() - started)
    engine.dispose()
    count = feed.body.count(b"BEGIN:VEVENT")
    return {
        "events": count,
        "bytes": len(feed.body),
        "cold_ms": statistics.median(cold) * 1000,
        "warm_ms": statistics.median(warm) * 1000,
    }


# --- servers and load -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_hello(port: int) -> None:
    """bench/hello.py under the uvicorn settings of `portal serve` (portal/cli.py)."""
    sys.path.insert(0, str(HERE))
    uvicorn.run("hello:app", host="127.0.0.1", port=port, workers=1, log_config=log_config(),
                proxy_headers=True, server_header=False)


@contextmanager
def running(cmd: list[str], *, env: dict[str, str], cwd: Path, probe: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(probe, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(cmd)} did not start")
            time.sleep(0.2)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> tuple[float, int]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(errors.group(1)) if errors else 0


def load(url: str, runs: int, seconds: int, connections: int, workdir: Path) -> list[dict[str, float]]:
    portal_port, hello_port = _free_port(), _free_port()
    env = {"PORTAL_DATABASE_URL": url, "PORTAL_BASE_URL": BASE_URL}
    portal_cmd = [str(PORTAL), "serve", "--port", str(portal_port)]
    hello_cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-hello", str(hello_port)]
    portal = f"http://127.0.0.1:{portal_port}"
    hello = f"http://127.0.0.1:{hello_port}/"
    with running(portal_cmd, env=env, cwd=workdir, probe=portal + "/healthz"), running(hello_cmd, env={}, cwd=workdir, probe=hello):
        first = httpx.get(portal + "/calendar.ics", timeout=60)
        zipped = httpx.get(portal + "/calendar.ics", headers={"Accept-Encoding": "gzip"}, timeout=60)
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/calendar")
        etag = first.headers["etag"]
        assert httpx.get(portal + "/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
        targets = {
            "hello": (hello, {}),
            "full": (portal + "/calendar.ics", {}),
            "full_gzip": (portal + "/calendar.ics", {"Accept-Encoding": "gzip"}),
            "not_modified": (portal + "/calendar.ics", {"If-None-Match": etag}),
        }
        for target, headers in targets.values():
            wrk(target, 3, connections, headers)  # warm-up, discarded
        results = []
        for run in range(runs):
            figures: dict[str, float] = {"run": run + 1}
            for name, (target, headers) in targets.items():
                rps, errors = wrk(target, seconds, connections, headers)
                if errors:
                    raise RuntimeError(f"{name}: {errors} error responses")
                figures[name] = rps
            results.append(figures)
        results[0]["body_bytes"] = len(first.content)
        results[0]["gzip_bytes"] = int(zipped.headers["content-length"])
    return results


# --- report -----------------------------------------------------------------------------


def report(build: dict[str, float], runs: list[dict[str, float]], args: argparse.Namespace, command: str) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "## Feeds",
        "",
        f"Measured {date.today().isoformat()} on {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, SQLite.",
        "",
        "```sh",
        command,
        "```",
        "",
        f"A site feed of {int(build['events'])} events ({build['bytes'] / 1e6:.2f} MB of iCalendar, "
        f"{runs[0]['gzip_bytes'] / 1e3:.0f} kB gzipped), built in process (median of {args.repeats}):",
        "",
        "| build | ms |",
        "|---|---:|",
        f"| cold: query + every VEVENT serialised | {build['cold_ms']:.0f} |",
        f"| warm: query + VEVENT blocks from the per-process cache | {build['warm_ms']:.0f} |",
        "",
        f"Over HTTP: `portal serve` (one worker) against bench/hello.py under the same uvicorn settings; "
        f"wrk, {args.connections} connections, one thread, {args.seconds} s per path after a 3 s warm-up "
        "that is discarded. The feed is served from the per-process feed cache (the data does not change "
        "during the run), so these are the serving costs, not the build.",
        "",
        "| run | hello req/s | `/calendar.ics` full req/s (ratio) | full, gzip req/s (ratio) | 304 req/s (ratio) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {int(r['run'])} | {r['hello']:.0f} | {r['full']:.0f} ({r['full'] / r['hello']:.2f}) | "
            f"{r['full_gzip']:.0f} ({r['full_gzip'] / r['hello']:.2f}) | "
            f"{r['not_modified']:.0f} ({r['not_modified'] / r['hello']:.2f}) |"
        )
    lines += [
        "",
        "The 304 path reads the change version (at most once a second: `PORTAL_CACHE_SECONDS`), looks the "
        "feed up in the cache and compares the ETag; it builds nothing and queries nothing else. The full "
        "path sends the kept bytes (or the kept gzipped bytes): its cost is moving the body.",
        "",
    ]
    return "\n".join(lines)


def write_section(section: str) -> None:
    """Put the Feeds section into bench/README.md, leaving every other section as it is."""
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"^## Feeds\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    README.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7, help="in-process builds per figure (median)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--write-readme", action="store_true", help="write the figures into bench/README.md")
    parser.add_argument("--serve-hello", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_hello:
        serve_hello(args.serve_hello)
        return 0
    if not shutil.which("wrk"):
        sys.exit("bench/feeds.py needs wrk (apt-get install -y wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-feeds-"))
    try:
        url = f"sqlite:///{workdir / 'portal.sqlite3'}"
        build_database(url, args.events)
        build = time_builds(url, args.repeats)
        print(f"build: {build}", flush=True)
        runs = load(url, args.runs, args.seconds, args.connections, workdir)
        for r in runs:
            print(f"run: {r}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    command = ".venv/bin/python bench/feeds.py " + " ".join(
        a for a in sys.argv[1:] if a != "--write-readme"
    )
    section = report(build, runs, args, command.strip() + " --write-readme")
    print(section)
    if args.write_readme:
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

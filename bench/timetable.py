"""Issue 20's figures on the demo conference, ICCS 2027 (three days, 120 sessions in four
parallel rooms, 200 speakers), loaded with `portal demo`'s data into a fresh database.

    .venv/bin/python bench/timetable.py [--engine sqlite|postgresql] [--count 30] [--wrk SECONDS]

In process, absolute ms (median and 95th percentile of --count, after 3 discarded):
- the event's full feed with its sessions (`/events/iccs-2027/calendar.ics?sessions=all`,
  112 VEVENTs), built by the service (catalogue.feeds.event_feed) right after a change: one
  session moved (its block made again, the others from the per-process block cache), the
  event's description edited (its own block only), the event renamed (each session's part
  that shows the event made again, the rest kept: calendars/sessions.py), and nothing kept
  (as the first request of a new process);
- the same over HTTP, the first request after a session moved: httpx over the ASGI
  transport, so the app's middleware, the build, the ETag's hash and gzip (target: the
  feed built in under 50 ms after a change);
- schedule.xml and schedule.json: the service's build, and the first request after a change;
- the event page: the first request after a change (rendered from the database; target
  under 20 ms): a session moved (its day rendered again, the others kept: web/fragments.py),
  another event changed (every day kept), a session moved with no day kept (as the first
  request of a new process); and the same page again (from the page cache).
The app runs with PORTAL_CACHE_SECONDS=0, so every request reads the change marker and sees
the change at once (one small query more than production's default of 1 s).

With --wrk S: `portal.app:create_app` under uvicorn (one worker) and bench/hello.py the same
way, wrk for S seconds at 32 connections per path, after a 3 s warm-up: the event page,
schedule.json and the feed with sessions (gzip) from the caches, as ratios to hello in the
same run (the issue's target for cached pages: the same as other pages, >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2 as httpx
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import Secret

from portal import demo, migrate
from portal.app import create_app
from portal.calendars import ical
from portal.catalogue import feeds, schedule
from portal.catalogue.imports import apply_event_values
from portal.catalogue.timetable import save_session, speaker_keys_of
from portal.db import make_engine, make_session_factory, run_unit_of_work, utcnow
from portal.models import Event, EventSession
from portal.settings import Settings
from portal.site import Site
from portal.web import fragments

from common import RESULTS, make_database, server, wrk

SLUG = "iccs-2027"
MOVED = "day2-3b"  # the session that moves between two rooms, one change after another
WARMUP = 3
BASE_URL = "https://events.example.org"
FIELDS = ("key", "title", "kind", "starts_at", "ends_at", "room", "track", "description", "choose", "places", "waitlist", "check_in", "status")


def load_demo(url: str) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    run_unit_of_work(make_session_factory(engine), demo.load, write=True)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


class Changes:
    """Changes made as the timetable editor and the event editor make them, in their own
    units of work (as another request would)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self.n = 0

    def move_session(self) -> None:
        """Move one session to another room: its SEQUENCE rises, the site's data changed."""
        self.n += 1

        def _move(session: Session) -> None:
            event = session.scalars(select(Event).where(Event.slug == SLUG)).one()
            item = session.scalars(select(EventSession).where(EventSession.event_id == event.id, EventSession.key == MOVED)).one()
            values = {name: getattr(item, name) for name in FIELDS}
            values["speakers"] = speaker_keys_of(session, item.id)
            values["room"] = f"Room {2 + self.n % 2}"
            save_session(session, event, values, now=utcnow(), existing=item)

        run_unit_of_work(self.sessions, _move, write=True)

    def _edit_event(self, field: str) -> None:
        self.n += 1

        def _edit(session: Session) -> None:
            event = session.scalars(select(Event).where(Event.slug == SLUG)).one()
            value = getattr(event, field).split(" [edit")[0]
            apply_event_values(event, {field: f"{value} [edit {self.n}]"}, now=utcnow())

        run_unit_of_work(self.sessions, _edit, write=True)

    def edit_elsewhere(self) -> None:
        """Edit another event: the site's data changed (so every page renders again), the
        conference did not."""
        self.n += 1

        def _edit(session: Session) -> None:
            other = session.scalars(select(Event).where(Event.slug != SLUG).order_by(Event.id).limit(1)).one()
            apply_event_values(other, {"description": f"Edited elsewhere {self.n}"}, now=utcnow())

        run_unit_of_work(self.sessions, _edit, write=True)

    def edit_description(self) -> None:
        """Edit the event's description: the event's block is made again, its sessions' kept."""
        self._edit_event("description")

    def edit_title(self) -> None:
        """Rename the event: every session's entry names it, so every block is made again."""
        self._edit_event("title")

    def close(self) -> None:
        self.engine.dispose()


def stats(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(count: int, before: Callable[[], None], action: Callable[[], Any]) -> tuple[float, float]:
    times = []
    for i in range(count + WARMUP):
        before()
        start = time.perf_counter()
        action()
        if i >= WARMUP:
            times.append((time.perf_counter() - start) * 1000)
    return stats(times)


async def timed_async(count: int, before: Callable[[], None], action: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    times = []
    for i in range(count + WARMUP):
        before()
        start = time.perf_counter()
        await action()
        if i >= WARMUP:
            times.append((time.perf_counter() - start) * 1000)
    return stats(times)


def in_process(url: str, count: int) -> dict[str, tuple[float, float]]:
    changes = Changes(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    site = Site(base_url=BASE_URL)

    def read(fn: Callable[..., feeds.Feed], *args: Any, **kwargs: Any) -> Callable[[], feeds.Feed]:
        return lambda: run_unit_of_work(sessions, fn, site, *args, write=False, **kwargs)

    feed = read(feeds.event_feed, SLUG, source="/x", with_sessions=True)
    body = feed().body
    assert body.count(b"BEGIN:VEVENT") == 112, body.count(b"BEGIN:VEVENT")
    results = {
        "feed with sessions, service, after a session moved": timed(count, changes.move_session, feed),
        "feed with sessions, service, after the event's description changed": timed(count, changes.edit_description, feed),
        "feed with sessions, service, after the event was renamed (each session's event part made)": timed(count, changes.edit_title, feed),
        "feed with sessions, service, nothing kept (as in a new process)": timed(count, ical.vevent_blocks.clear, feed),
        "schedule.xml, service, after a session moved": timed(count, changes.move_session, read(schedule.schedule_xml, SLUG)),
        "schedule.json, service, after a session moved": timed(count, changes.move_session, read(schedule.schedule_json, SLUG)),
    }
    engine.dispose()
    results.update(asyncio.run(over_http(url, count, changes)))
    changes.close()
    return results


def app_and_client(url: str, cache_seconds: float) -> tuple[Any, httpx.AsyncClient]:
    settings = Settings(database_url=url, secret_key=Secret("bench"), base_url=BASE_URL, var_dir=RESULTS / "var", cache_seconds=cache_seconds)
    app = create_app(settings)
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)


async def over_http(url: str, count: int, changes: Changes) -> dict[str, tuple[float, float]]:
    app, client = app_and_client(url, 0.0)
    results = {}
    async with client:

        def get(path: str, **headers: str) -> Callable[[], Awaitable[Any]]:
            async def _get() -> None:
                response = await client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.status_code)
            return _get

        page = f"/events/{SLUG}"
        gzip = {"Accept-Encoding": "gzip"}
        results["feed with sessions, HTTP (gzip), after a session moved"] = await timed_async(
            count, changes.move_session, get(f"/events/{SLUG}/calendar.ics?sessions=all", **gzip))
        results["schedule.xml, HTTP (gzip), after a session moved"] = await timed_async(
            count, changes.move_session, get(f"/events/{SLUG}/schedule.xml", **gzip))
        results["schedule.json, HTTP (gzip), after a session moved"] = await timed_async(
            count, changes.move_session, get(f"/events/{SLUG}/schedule.json", **gzip))
        results["event page, HTTP (gzip), after a session moved (from the database)"] = await timed_async(
            count, changes.move_session, get(page, **gzip))
        results["event page, HTTP (gzip), after another event changed (from the database)"] = await timed_async(
            count, changes.edit_elsewhere, get(page, **gzip))

        def moved_in_a_new_process() -> None:
            changes.move_session()
            fragments.timetable_days.clear()

        results["event page, HTTP (gzip), after a session moved, no day kept (as in a new process)"] = await timed_async(
            count, moved_in_a_new_process, get(page, **gzip))
        sample = await client.get(page)
        results["_page_bytes"] = (float(len(sample.content)), float(sample.text.count('class="session')))
    app.state.engine.dispose()
    # A page that shows seat counts is kept for PORTAL_CACHE_SECONDS at most (web/pagecache.py):
    # from the cache, with production's default of 1 s.
    app, client = app_and_client(url, 1.0)
    async with client:
        await client.get(page, headers=gzip)
        results["event page, HTTP (gzip), again (from the page cache)"] = await timed_async(
            count, lambda: None, lambda: client.get(page, headers=gzip))
    app.state.engine.dispose()
    return results


def under_load(url: str, seconds: int) -> dict[str, float]:
    env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench", "PORTAL_BASE_URL": BASE_URL, "PORTAL_DELIVER_IN_PROCESS": "0"}
    paths = {
        "event page": f"/events/{SLUG}",
        "schedule.json": f"/events/{SLUG}/schedule.json",
        "feed with sessions": f"/events/{SLUG}/calendar.ics?sessions=all",
    }
    figures: dict[str, float] = {}
    with server("hello:app") as (hello, _):
        wrk(hello + "/", seconds=3)
        figures["hello"] = wrk(hello + "/", seconds=seconds)["rps"]
    with server("portal.app:create_app", factory=True, env=env, cwd=RESULTS) as (base, _):
        for name, path in paths.items():
            headers = {"Accept-Encoding": "gzip"}
            wrk(base + path, seconds=3, headers=headers)
            result = wrk(base + path, seconds=seconds, headers=headers)
            if result["non_2xx_3xx"]:
                raise RuntimeError(f"{name}: {result['non_2xx_3xx']:.0f} error responses")
            figures[name] = result["rps"]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--wrk", type=int, default=0, metavar="SECONDS", help="also measure cached answers under wrk")
    args = parser.parse_args()
    url, remove = make_database(args.engine)
    try:
        start = time.perf_counter()
        load_demo(url)
        print(f"demo loaded in {time.perf_counter() - start:.1f} s ({args.engine})", file=sys.stderr)
        results = in_process(url, args.count)
        load = under_load(url, args.wrk) if args.wrk else {}
    finally:
        remove()
    size, sessions = results.pop("_page_bytes")
    print(f"{args.engine}, {os.cpu_count()} cores, Python {platform.python_version()}, load average "
          f"{os.getloadavg()[0]:.1f}; median / p95 of {args.count} (ms):")
    for label, (median, p95) in results.items():
        print(f"  {label:78} {median:7.1f} / {p95:7.1f}")
    print(f"  (the event page: {size / 1000:.0f} kB, {int(sessions)} elements of class session*)")
    if load:
        print(f"wrk, {args.wrk} s, 32 connections, gzip: hello {load['hello']:.0f} req/s")
        for name in ("event page", "schedule.json", "feed with sessions"):
            print(f"  {name:20} {load[name]:8.0f} req/s  {load[name] / load['hello']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

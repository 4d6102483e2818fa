"""Issue 16's search: the listing's service, list_events(q=...), with full-text search against
the LIKE query it replaced, at 2,000 and 20,000 events.

    .venv/bin/python bench/search.py [--engine sqlite|postgresql] [--sizes 2000,20000] [--http SECONDS]

Data: common.build_dataset (every title "Seminar N: maritime security, cyber norms & more",
the same description, venue, speaker; six programmes), 10 registrations an event. Each size
gets a database of its own; on PostgreSQL `VACUUM ANALYZE` runs after the bulk insert, as
autovacuum would soon after (it also merges the GIN index's pending list).

In process, one read transaction per call, as a request makes: three sets of 50 distinct
queries, each query run once (a long tail: nothing is kept between two of them), after 10
other queries that warm the database's caches:
- rare: a word and an event number ("maritime 1234"), a handful of matches;
- common: words every event holds, in 50 spellings ("mari", "maritime secu", "cyber no"),
  so every upcoming event matches, and every match is counted and ranked;
- none: a word no event holds.
Median and 95th percentile in ms, for the LIKE query (kept below, for comparison only) and
for the full-text one.

With --http S: also `portal serve` (one worker) and bench/hello.py under wrk for S seconds,
32 connections, every request a search no request sent before (so the page cache never
answers), at the largest size: the ratio to hello is issue 16's target (>= 0.2).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from portal.catalogue import listing
from portal.catalogue.listing import PUBLIC_STATUSES, Page, list_events
from portal.db import make_engine, make_session_factory, run_unit_of_work, utcnow
from portal.models import Event, Programme
from portal.paging import clamp_page, offset
from portal.text import like_pattern

from common import RESULTS, build_dataset, make_database, server, wrk

QUERIES = 50
WARMUP = 10
COMMON_WORDS = ["seminar", "maritime", "security", "cyber", "norms", "more", "talk", "rsis", "block", "speaker", "programme"]


def list_events_like(session: Session, *, q: str, past: bool = False, page: int = 1, per_page: int = 20, now: datetime) -> Page:
    """The listing's search before issue 16 (commit fa52d7f), for comparison only: the phrase
    as typed, anywhere in the lower-cased title, description or venue."""
    pattern = like_pattern(q)
    conditions = [
        Event.status.in_(PUBLIC_STATUSES),
        Event.ends_at < now if past else Event.ends_at >= now,
        or_(
            func.lower(Event.title).like(pattern, escape="\\"),
            func.lower(Event.description).like(pattern, escape="\\"),
            func.lower(Event.venue).like(pattern, escape="\\"),
        ),
    ]
    base = select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    order = (Event.starts_at.desc(), Event.id.desc()) if past else (Event.starts_at, Event.id)
    page = clamp_page(page, total, per_page)
    query = base.order_by(*order).limit(per_page).offset(offset(page, per_page))
    return Page(listing._cards(session, query, now), total, page, per_page)


def _prefixes(word: str, shortest: int) -> list[str]:
    return [word[:n] for n in range(shortest, len(word) + 1)]


def common_queries() -> list[str]:
    """50 spellings of words every event holds, as a visitor types them: whole words,
    prefixes, and runs of words in the text's own order, so that the LIKE query finds them
    too."""
    singles = [p for w in ("seminar", "maritime", "security", "cyber", "norms", "talk", "block", "rsis", "more") for p in _prefixes(w, 4)]
    runs = (
        ["maritime " + p for p in _prefixes("security", 1)]
        + ["cyber " + p for p in _prefixes("norms", 1)]
        + ["a " + p for p in _prefixes("talk", 1)]
        + ["block " + p for p in _prefixes("s4", 1)]
        + ["a talk. a " + p for p in _prefixes("talk", 0)]
        + ["maritime security, " + p for p in _prefixes("cyb", 1)]
    )
    queries = singles + runs
    assert len(queries) == len(set(queries)) == QUERIES, len(queries)
    return queries


def query_sets(events: int, rng: random.Random) -> dict[str, list[str]]:
    """Distinct queries of each kind, plus the warm-up's."""
    numbers = rng.sample(range(events), 2 * QUERIES + WARMUP)
    rare = [f"{rng.choice(COMMON_WORDS)} {n}" for n in numbers]
    return {
        "warm-up": rare[2 * QUERIES:],
        "rare": rare[:QUERIES],
        "rare, whole page": rare[QUERIES:2 * QUERIES],
        "common": common_queries(),
        "none": [f"zebra{n}" for n in numbers[:QUERIES]],
    }


def timed(sessions, search: Callable[..., Page], queries: list[str], now: datetime) -> tuple[list[float], list[int]]:  # type: ignore[no-untyped-def]
    times, totals = [], []
    for q in queries:
        t0 = time.perf_counter()
        page = run_unit_of_work(sessions, search, q=q, now=now, write=False)
        times.append((time.perf_counter() - t0) * 1000)
        totals.append(page.total)
    return times, totals


def timed_listing(sessions, queries: list[str], now: datetime) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for q in queries:
        t0 = time.perf_counter()
        run_unit_of_work(sessions, listing.get_listing, q=q, now=now, write=False)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def measure(engine_name: str, events: int) -> dict[tuple[str, str], tuple[float, float, float]]:
    url, cleanup = make_database(engine_name)
    results = {}
    try:
        t0 = time.perf_counter()
        build_dataset(url, events=events, registrations=events * 10)
        engine = make_engine(url)
        if engine_name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        print(f"{events:,} events built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        sessions = make_session_factory(engine)
        now = utcnow()
        sets = query_sets(events, random.Random(events))
        for search in (list_events_like, list_events):
            timed(sessions, search, sets["warm-up"], now)
        for kind in ("rare", "common", "none"):
            for label, search in (("LIKE", list_events_like), ("full text", list_events)):
                times, totals = timed(sessions, search, sets[kind], now)
                results[(kind, label)] = (statistics.median(times), p95(times), statistics.median(totals))
        # The /events page's whole unit of work: the page of events and the filters' choices.
        times = timed_listing(sessions, sets["rare, whole page"], now)
        results[("rare, whole page", "get_listing")] = (statistics.median(times), p95(times), float("nan"))
        engine.dispose()
    finally:
        cleanup()
    return results


SEARCH_SCRIPT = """
-- Each request a search no request sent before: a word every title holds and an event
-- number from the upper half, which finds that event (none when it is past).
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/events?q=%(word)s+" .. (%(start)d + n))
end
"""


def http_ratio(engine_name: str, events: int, seconds: int) -> None:
    """wrk against hello, then against /events with a new search each request."""
    url, cleanup = make_database(engine_name)
    scripts = {word: RESULTS / f"search-{word}-{os.getpid()}.lua" for word in ("seminar", "maritime")}
    for word, script in scripts.items():
        script.write_text(SEARCH_SCRIPT % {"word": word, "start": events // 2})
    try:
        build_dataset(url, events=events, registrations=events * 10)
        if engine_name == "postgresql":
            engine = make_engine(url)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            engine.dispose()
        env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench", "PORTAL_CACHE_SECONDS": "1", "PORTAL_DELIVER_IN_PROCESS": "0"}
        with server("hello:app") as (hello, _):
            wrk(hello + "/", seconds=3)
            base = wrk(hello + "/", seconds=seconds)["rps"]
        with server("portal.app:create_app", factory=True, env=env, cwd=RESULTS) as (portal, _):
            # The warm-up searches another word, so that the run repeats none of its queries.
            wrk(portal + "/events", seconds=3, script=scripts["seminar"])
            r = wrk(portal + "/events", seconds=seconds, script=scripts["maritime"])
        print(f"\nHTTP, {events:,} events: hello {base:.0f} req/s; /events?q=<new each time> {r['rps']:.0f} req/s, "
              f"ratio {r['rps'] / base:.2f} (p50 {r.get('p50', 0):.1f} ms, non-2xx {r['non_2xx_3xx']:.0f})")
    finally:
        for script in scripts.values():
            script.unlink(missing_ok=True)
        cleanup()


def server_version() -> str:
    url, cleanup = make_database("postgresql")
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()
        cleanup()


def cpu_reference() -> float:
    """Seconds for ten million additions in a Python loop: to scale these figures to another machine."""
    start, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--http", type=int, default=0, metavar="SECONDS")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    version = sqlite3.sqlite_version if args.engine == "sqlite" else server_version()
    print(f"{args.engine} ({version}), Python {platform.python_version()}, CPU reference {cpu_reference():.2f} s, "
          f"load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    results = {size: measure(args.engine, size) for size in sizes}
    print(f"\nlist_events(q=...), in process, {QUERIES} distinct queries per row, ms (median / p95); matches: median per query")
    header = "| queries | search | " + " | ".join(f"{s:,} events" for s in sizes) + " | matches |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for kind, label in [(k, a) for k in ("rare", "common", "none") for a in ("LIKE", "full text")] + [("rare, whole page", "get_listing")]:
        cells = " | ".join(f"{results[s][(kind, label)][0]:.1f} / {results[s][(kind, label)][1]:.1f}" for s in sizes)
        matches = " / ".join(f"{results[s][(kind, label)][2]:,.0f}" for s in sizes) if label != "get_listing" else "as rare"
        print(f"| {kind} | {label} | {cells} | {matches} |")
    if args.http:
        http_ratio(args.engine, max(sizes), args.http)


if __name__ == "__main__":
    main()

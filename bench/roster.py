"""The back office at scale: one event with 100,000 registrations in SQLite.

Measures the roster page in process (httpx over the ASGI transport, signed in as an
organiser; median of 20 requests after 2 discarded): the first page, the last page, a deep
page reached by cursor, a sort on another column, a status filter, two searches and the door's
search. Then the export, CSV and XLSX, each run as `portal export roster` in a child process:
wall time and peak resident memory (ru_maxrss of that child), for 100,000 rows and for 10,000
rows, to show that memory does not grow with the roster. The whole is measured --runs times
(default 2) on the same data, with the CPU reference taken before each run, because the machine
is shared and one run alone says little.

    .venv/bin/python bench/roster.py [--engine sqlite|postgresql] [--registrations 100000] [--runs 2] [--write-readme]

With --engine postgresql it makes a scratch database on the local server (see
common.make_database) and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import Engine, insert, select
from starlette.datastructures import Secret

from portal import migrate
from portal.accounts import organisers
from portal.app import create_app
from portal.db import bump_seats_versions, make_engine, make_session_factory, run_unit_of_work, transaction
from portal.models import Admission, Event, EventStatus, Programme, Registration, RegistrationStatus
from portal.settings import Settings

from common import make_database

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
PORTAL = Path(sys.executable).with_name("portal")
PASSWORD = "bench password long enough"
REQUESTS, WARMUP = 20, 2
# Read against the figures of the last run before writing it into the README.
HISTORY = """Before the second session's work (same data; commit 061e8ba), with the machine idle (CPU reference 0.42 s): pages 54-90 ms, the search that matches nobody 112 ms, the door's search 133 ms, the CSV export 5.13 s (1.59 s of it the command's start) and the XLSX 43.6 s. At the end of that session, with another session's jobs on the machine (CPU reference about 0.9 s, two to three times slower), the search that matches nobody just after a change took 105-109 ms and the CSV export 2.58-3.45 s: over the targets on a busy machine, well under them on an idle one."""
NOTE = """Where the time goes (instruction counts from callgrind, which do not vary with the load the way times do):

- The slowest page is a search that matches nobody just after a change. It counts the event again (status counts and the per-day chart: each an index range count, 200,000 index entries in all) and reads the whole search index (100,000 entries of (event_id, status, search_text) through LIKE, about 1,700 instructions an entry). Without a change in between the counts are kept. A trigram index (FTS5 on SQLite, pg_trgm on PostgreSQL) would make a search read only the entries that share its letters; not needed at this size.
- The CSV export: the command's start (the interpreter, SQLAlchemy, the models; `portal --help` above), finding every answer's key (json_each over every row), then about 20,000 instructions a row fetching 13 columns, 10,000 decoding the answers' JSON, and the rest converting the times, neutralising formulas and joining the cells. Memory stays flat: rows are fetched in batches and written as they come.
- The XLSX export is openpyxl's write-only mode, as the issue names: about 25 us a cell, 1.6 million cells (no target). Writing the sheet's XML directly took 6 s (commit e04f3f8) and was replaced by the library again; openpyxl with lxml was only 9% faster on 20,000 rows."""
PG_NOTE = """The same data and code as on SQLite, PostgreSQL's default settings, and `VACUUM ANALYZE registrations` run once after the bulk insert, as autovacuum would within a minute or so. Measured straight after the insert instead (2026-11-28, before the script vacuumed), the visibility map is empty, so every count reads the table's pages as well as the index: the pages just after a change took 125-192 ms and the other searches 58-141 ms.

A search reads every row of the event that is not ruled out by its status (a sequential scan: LIKE '%...%' cannot use a B-tree). A trigram index (pg_trgm, GIN) was tried on this data: a rare needle of three letters or more went from 33-59 ms to 1-4 ms, but needles of one or two letters (no trigrams) and common ones (such as '@example') went from 1.5-55 ms to 21-115 ms, because the planner then reads the whole GIN index, or every match before the LIMIT. Left out: every search is under the target without it, though it is the slowest thing on these pages (a search that matches nobody reads the event's 40 MB of rows, about 35-40 ms on its own)."""

FIRST = ["Aisha", "Budi", "Chen", "Dewi", "Eko", "Farah", "Grace", "Hiroshi", "Indra", "Jun", "Kavya", "Lina", "Minh", "Nadia", "Omar", "Priya", "Quang", "Rizal", "Siti", "Thanh"]
LAST = ["Rahman", "Santoso", "Wei", "Lestari", "Nguyen", "Tan", "Lim", "Sato", "Kumar", "Park", "Reyes", "Ong", "Chua", "Goh", "Ibrahim"]
ORGS = ["Ministry of Foreign Affairs", "Ministry of Defence", "National University", "Embassy of Japan", "Maritime Institute", "Policy Research Centre", "Armed Forces", "Coast Guard"]
SERVICES = ["Army", "Navy", "Air Force", "Ministry of Defence", "Police"]


def fill(url: str, n: int, slug: str) -> None:
    """One published event with `n` registrations, inserted in bulk."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(n)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with sessions.begin() as session:
        programme = session.scalar(select(Programme).where(Programme.code == "appsmo"))
        if programme is None:
            programme = Programme(code="appsmo", name="Asia-Pacific Programme for Senior Military Officers", admission=Admission.NOMINATION)
            session.add(programme)
            session.flush()
        event = Event(
            slug=slug, title=f"Bench event ({n:,} registrations)", programme_id=programme.id, starts_at=now + timedelta(days=60),
            ends_at=now + timedelta(days=65), venue="RSIS", capacity=int(n * 0.6), status=EventStatus.PUBLISHED, published_at=now,
        )
        session.add(event)
        session.flush()
        statuses = [RegistrationStatus.CONFIRMED] * 60 + [RegistrationStatus.WAITLISTED] * 20 + [RegistrationStatus.PENDING] * 10 + [RegistrationStatus.CANCELLED] * 5 + [RegistrationStatus.REJECTED] * 5
        batch = []
        for i in range(n):
            status = statuses[i % 100]
            created = now - timedelta(days=60) + timedelta(seconds=int(i * 60 * 86400 / n))
            first, last = rng.choice(FIRST), rng.choice(LAST)
            batch.append({
                "event_id": event.id, "email": f"{first}.{last}.{i}@example.org".lower(), "name": f"{first} {last}",
                "organisation": rng.choice(ORGS),
                "answers": {"rank": rng.choice(["Colonel", "Brigadier", "Captain (N)"]), "service": rng.choice(SERVICES),
                            "country": rng.choice(["Singapore", "Malaysia", "Indonesia", "Viet Nam", "Japan"]),
                            "nominating_authority": "Ministry of Defence"},
                "status": status, "token": secrets.token_urlsafe(32), "consented_at": created, "created_at": created, "updated_at": created,
                "confirmed_at": created if status == RegistrationStatus.CONFIRMED else None,
                "waitlisted_at": created if status == RegistrationStatus.WAITLISTED else None,
                "cancelled_at": created + timedelta(days=1) if status == RegistrationStatus.CANCELLED else None,
                "checked_in_at": now if status == RegistrationStatus.CONFIRMED and i % 7 == 0 else None,
            })
            if len(batch) == 5000:
                session.execute(insert(Registration), batch)
                batch = []
        if batch:
            session.execute(insert(Registration), batch)
    engine.dispose()


async def measure_pages(settings: Settings, slug: str) -> dict[str, float]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    results: dict[str, float] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", follow_redirects=False) as client:
        page = await client.get("/admin/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        signed = await client.post("/admin/sign-in", data={"csrf_token": token, "email": "bench@example.org", "password": PASSWORD})
        assert signed.status_code == 303, signed.text
        base = f"/admin/events/{slug}"
        with transaction(app.state.sessions, write=False) as session:
            event_id = session.scalar(select(Event.id).where(Event.slug == slug))
        last = await client.get(base, params={"last": "1"})
        before = re.search(r'href="[^"]*before=([^"&]+)[^"]*" rel="prev"', last.text).group(1)  # type: ignore[union-attr]
        cases = {
            "first page (sorted by registration time)": (base, {}),
            "last page": (base, {"last": "1"}),
            "deep page by cursor (rows 99,850-99,900)": (base, {"before": before}),
            "sorted by name, descending": (base, {"sort": "name", "dir": "desc"}),
            "waiting list only, sorted by organisation": (base, {"status": "waitlisted", "sort": "organisation"}),
            "search 'tan' (many matches)": (base, {"q": "tan"}),
            "search 'nobody-at-all' (no match: full scan)": (base, {"q": "nobody-at-all"}),
            "check-in search 'grace tan'": (f"{base}/check-in", {"q": "grace tan"}),
            # The counts and chart are kept until the data changes (NumbersCache): these two
            # change it before each request, as a registration or a check-in would.
            "first page, just after a change (counts and chart recounted)": (base, {}),
            "search 'nobody-at-all', just after a change": (base, {"q": "nobody-at-all"}),
        }
        sessions = app.state.sessions
        for label, (path, params) in cases.items():
            times = []
            for i in range(WARMUP + REQUESTS):
                if "after a change" in label:
                    with transaction(sessions, write=True) as session:
                        bump_seats_versions(session, {event_id})
                start = time.perf_counter()
                response = await client.get(path, params=params)
                elapsed = (time.perf_counter() - start) * 1000
                assert response.status_code == 200, (label, response.status_code, response.text[:500])
                if i >= WARMUP:
                    times.append(elapsed)
            results[label] = statistics.median(times)
            print(f"  {label}: median {results[label]:.1f} ms (max {max(times):.1f})", file=sys.stderr)
    app.state.engine.dispose()
    return results


def measure_export(url: str, slug: str, fmt: str, workdir: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, file size) of `portal export roster` in a child process."""
    out = workdir / f"{slug}.{fmt}"
    # A fresh intermediate process, so that ru_maxrss of its children is this export's alone.
    probe = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL)\n"
        "wall = time.perf_counter() - start\n"
        "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = {**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(PORTAL), "export", "roster", slug, "--format", fmt, "-o", str(out)],
        env=env, cwd=workdir, check=True, capture_output=True, text=True,
    )
    wall, maxrss_kb = result.stdout.split()
    return float(wall), int(maxrss_kb) / 1024, out.stat().st_size


def cpu_reference() -> float:
    """Seconds for ten million additions in a Python loop: to scale these figures to another machine."""
    start, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def startup_seconds() -> float:
    """Wall time of `portal --help`: the interpreter and the imports every command pays."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([str(PORTAL), "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def database_version(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return "SQLite " + connection.exec_driver_sql("select sqlite_version()").scalar_one()
        return "PostgreSQL " + connection.exec_driver_sql("show server_version").scalar_one().split()[0]


def write_readme(text: str, heading: str) -> None:
    current = README.read_text() if README.exists() else "# Benchmarks\n"
    section = re.compile(r"\n" + re.escape(heading) + r"\n.*?(?=\n## |\Z)", re.S)
    sqlite_section = re.compile(r"\n## Back office\n.*?(?=\n## |\Z)", re.S).search(current)
    if section.search(current):
        current = section.sub(lambda _: "\n" + text.rstrip("\n") + "\n", current)
    elif sqlite_section is not None:  # the PostgreSQL figures go beside SQLite's
        current = current[:sqlite_section.end()] + "\n" + text.rstrip("\n") + "\n" + current[sqlite_section.end():]
    else:
        current = current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    README.write_text(current)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--registrations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2, help="how many times to measure the same data")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    n = args.registrations
    small = max(n // 10, 1)

    url, remove_database = make_database(args.engine)
    try:
        with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
            workdir = Path(tmp)
            migrate.upgrade(url)
            start = time.perf_counter()
            fill(url, n, "bench-large")
            fill(url, small, "bench-small")
            print(f"inserted {n + small:,} registrations in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            engine = make_engine(url)
            engine_version = database_version(engine)
            if args.engine == "postgresql":
                # What autovacuum does within a minute or so of a bulk load: without it, every
                # count reads the table as well as the index (no visibility map yet), and the
                # planner has no statistics. Said in the README beside the figures.
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE registrations")
            run_unit_of_work(make_session_factory(engine), organisers.add_organiser, "bench@example.org", PASSWORD, name="Bench")
            engine.dispose()

            settings = Settings(database_url=url, secret_key=Secret("bench"), var_dir=workdir / "var")
            startup = startup_seconds()
            runs = []
            for run in range(1, args.runs + 1):
                reference, load = cpu_reference(), os.getloadavg()[0]
                print(f"run {run} (CPU reference {reference:.2f} s, load {load:.1f}); roster page, in process:", file=sys.stderr)
                pages = asyncio.run(measure_pages(settings, "bench-large"))
                exports = {}
                for fmt in ("csv", "xlsx"):
                    for slug, rows in (("bench-large", n), ("bench-small", small)):
                        wall, rss, size = measure_export(url, slug, fmt, workdir)
                        exports[(fmt, rows)] = (wall, rss, size)
                        print(f"  export {fmt} {rows:,} rows: {wall:.2f} s, peak RSS {rss:.0f} MB, {size / 1e6:.1f} MB file", file=sys.stderr)
                runs.append((reference, load, pages, exports))
    finally:
        remove_database()

    numbers = range(1, len(runs) + 1)
    heading = "## Back office" if args.engine == "sqlite" else "## Back office on PostgreSQL"
    engine_flag = "" if args.engine == "sqlite" else " --engine postgresql"
    loaded = "bulk inserted, no ANALYZE run" if args.engine == "sqlite" else "bulk inserted, then VACUUM ANALYZE"
    references = " and ".join(f"{reference:.2f} s" for reference, _, _, _ in runs)
    loads = " and ".join(f"{load:.1f}" for _, load, _, _ in runs)
    lines = [
        heading,
        "",
        f"Measured {datetime.now():%Y-%m-%d} on {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}, "
        f"{engine_version}: one event with {n:,} registrations ({loaded}), "
        f"measured {len(runs)} times over. For scaling to another machine: a Python loop of ten million additions (in a "
        f"function) took {references} before the runs (0.28-0.42 s when the machine is idle), and the load average was {loads} "
        "(above 0, other work was sharing the two cores).",
        "",
        "```sh",
        f".venv/bin/python bench/roster.py{engine_flag} --runs {len(runs)} --write-readme",
        "```",
        "",
        f"The roster page, in process (httpx over the ASGI transport, signed in; median of {REQUESTS} requests after {WARMUP} discarded). "
        "Each page also shows the counts by status, the per-day chart over all rows, and the ten latest audit entries; the counts "
        "and chart are kept per process until the data changes, so the last two rows change the data before each request. "
        "Target: under 100 ms.",
        "",
        "| page | " + " | ".join(f"run {i} ms" for i in numbers) + " |",
        "|---|" + "---:|" * len(runs),
        *(f"| {label} | " + " | ".join(f"{pages[label]:.1f}" for _, _, pages, _ in runs) + " |" for label in runs[0][2]),
        "",
        "The export, `portal export roster SLUG --format F -o FILE` in a child process: wall time (including the "
        "interpreter's start) and peak resident memory of that process. Targets for CSV at 100,000 rows: under 3 s and 150 MB, "
        f"with memory flat in the number of rows. Starting the command (interpreter and imports, `portal --help`) takes {startup:.2f} s of each.",
        "",
        "| format | rows | " + " | ".join(f"run {i} s" for i in numbers) + " | peak RSS MB | file MB |",
        "|---|---:|" + "---:|" * len(runs) + "---:|---:|",
        *(
            f"| {fmt.upper()} | {rows:,} | " + " | ".join(f"{exports[(fmt, rows)][0]:.2f}" for _, _, _, exports in runs)
            + " | " + " / ".join(f"{exports[(fmt, rows)][1]:.0f}" for _, _, _, exports in runs)
            + f" | {runs[0][3][(fmt, rows)][2] / 1e6:.1f} |"
            for (fmt, rows) in runs[0][3]
        ),
        "",
        *([HISTORY, "", NOTE] if args.engine == "sqlite" else [PG_NOTE]),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_readme:
        write_readme(text, heading)
    return 0


if __name__ == "__main__":
    sys.exit(main())

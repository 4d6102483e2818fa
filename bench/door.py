"""The door's scanner at 100,000 registrations: the server's part of one scan.

    .venv/bin/python bench/door.py [--engine sqlite|postgresql] [--registrations 100000] [--count 300]

Data: common.build_dataset (200 events, no registrations of their own), then one event that
runs today with `--registrations` registrations, every one with a check-in code (90%
confirmed, the rest waiting, pending, cancelled or rejected), a tenth of the confirmed ones
checked in already today (so check_ins holds some 9,000 rows).

Measured, one scan after another (nothing else runs, so no scan waits for a lock):

- the service in its unit of work, as the handler runs it (registrations.scans.scan inside
  run_unit_of_work, write=True: the event's lock, the code's lookup, the day's first check-in,
  the row, the audit entry, the seats version, the commit), for a ticket scanned for the first
  time today, a ticket scanned again (already checked in), and a code no ticket has;
- a door's sync of 50 offline scans (one unit of work), per scan;
- the HTTP POST of one scan as the page's script sends it (JSON, the CSRF token in a header,
  signed in), in process: httpx over the ASGI transport, so the app's middleware, the guard's
  session check, the JSON and the unit of work, without a network or a server process.

Prints the median and 95th percentile of each (`--count` scans each, after 10 discarded).
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
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import insert, select
from starlette.datastructures import Secret

from portal.accounts import organisers
from portal.app import create_app
from portal.audit import Actor
from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.documents.tickets import new_code
from portal.models import CheckIn, Event, EventStatus, Registration
from portal.registrations import checkins, scans
from portal.registrations.scans import DoorScan, Outcome
from portal.settings import Settings

from common import build_dataset, make_database

SLUG = "door-bench"
PASSWORD = "bench password long enough"
WARMUP = 10
STATUSES = ["confirmed"] * 90 + ["waitlisted"] * 4 + ["pending"] * 2 + ["cancelled"] * 2 + ["rejected"] * 2


def fill(url: str, n: int) -> list[tuple[str, str]]:
    """The door's event, running today, with n registrations; (code, status) of each."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(n)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    codes: set[str] = set()
    while len(codes) < n:
        codes.add(new_code())
    tickets = [(code, STATUSES[i % 100]) for i, code in enumerate(sorted(codes, key=lambda _: rng.random()))]
    with sessions.begin() as session:
        event = Event(
            slug=SLUG, title=f"Door bench ({n:,} registrations)", starts_at=now - timedelta(hours=2), ends_at=now + timedelta(hours=8),
            timezone="Asia/Singapore", venue="RSIS", status=EventStatus.PUBLISHED, published_at=now, capacity=None,
        )
        session.add(event)
        session.flush()
        batch = []
        for i, (code, status) in enumerate(tickets):
            batch.append({
                "event_id": event.id, "email": f"p{i}@example.org", "name": f"Participant {i}", "organisation": "Ministry",
                "answers": {}, "status": status, "token": secrets.token_urlsafe(32), "checkin_code": code,
                "consented_at": now, "created_at": now, "updated_at": now, "confirmed_at": now if status == "confirmed" else None,
            })
            if len(batch) == 5000:
                session.execute(insert(Registration), batch)
                batch = []
        if batch:
            session.execute(insert(Registration), batch)
        # A tenth of the confirmed are in already today.
        ids = session.execute(select(Registration.id, Registration.checkin_code).where(Registration.event_id == event.id)).all()
        status_of = dict(tickets)
        came = [(rid, code) for rid, code in ids if status_of[code] == "confirmed" and rng.random() < 0.1]
        day = checkins.day_of(event, now)
        session.execute(insert(CheckIn), [
            {"event_id": event.id, "registration_id": rid, "day": day, "at": now - timedelta(minutes=30), "scan_id": uuid.uuid4().hex,
             "door": "Door A", "created_at": now}
            for rid, _ in came
        ])
    engine.dispose()
    done = {code for _, code in came}
    return [(code, "in" if code in done else status) for code, status in tickets]


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure_service(url: str, actor: Actor, fresh: list[str], again: list[str], count: int) -> dict[str, tuple[float, float]]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    results: dict[str, tuple[float, float]] = {}
    cases = {
        "first scan of a ticket today (admitted)": (fresh, Outcome.ADMITTED),
        "a ticket scanned again (already checked in)": (again, Outcome.ALREADY),
        "a code no ticket has (unknown)": ([new_code() for _ in range(count + WARMUP)], Outcome.UNKNOWN),
    }
    for label, (codes, expected) in cases.items():
        times = []
        for i in range(count + WARMUP):
            start = time.perf_counter()
            result = run_unit_of_work(
                sessions, scans.scan, actor, SLUG, code_or_payload="PTK1:" + codes[i], scan_id=uuid.uuid4().hex, door="Bench", write=True,
            )
            elapsed = (time.perf_counter() - start) * 1000
            assert result.outcome == expected, (label, result)
            if i >= WARMUP:
                times.append(elapsed)
        results[label] = percentiles(times)
    batches = []
    sync_codes = fresh[count + WARMUP:]
    for b in range(max(1, count // 50)):
        batch = [DoorScan(uuid.uuid4().hex, code, datetime.now(timezone.utc), "Door B") for code in sync_codes[b * 50:(b + 1) * 50]]
        start = time.perf_counter()
        answers = run_unit_of_work(sessions, scans.sync, actor, SLUG, batch, write=True)
        batches.append((time.perf_counter() - start) * 1000 / len(batch))
        assert all(a.outcome == Outcome.ADMITTED for a in answers)
    results["a sync of 50 offline scans, per scan"] = percentiles(batches)
    engine.dispose()
    return results


async def measure_http(settings: Settings, codes: list[str], count: int) -> tuple[float, float]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    times = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", follow_redirects=False) as client:
        page = await client.get("/admin/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        signed = await client.post("/admin/sign-in", data={"csrf_token": token, "email": "bench@example.org", "password": PASSWORD})
        assert signed.status_code == 303, signed.text
        door = await client.get(f"/admin/events/{SLUG}/check-in")
        csrf = re.search(r'data-csrf="([^"]+)"', door.text).group(1)  # type: ignore[union-attr]
        headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
        for i in range(count + WARMUP):
            body = {"scan_id": str(uuid.uuid4()), "code": "PTK1:" + codes[i], "at": datetime.now(timezone.utc).isoformat(), "door": "Door C"}
            start = time.perf_counter()
            response = await client.post(f"/admin/events/{SLUG}/door/scan", json=body, headers=headers)
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 200 and response.json()["outcome"] == "admitted", response.text[:300]
            if i >= WARMUP:
                times.append(elapsed)
        # Once, for scale: what a door's page loads to work offline, here every ticket of the event.
        start = time.perf_counter()
        listing = await client.get(f"/admin/events/{SLUG}/door/tickets.json", headers={"Accept-Encoding": "gzip"})
        assert listing.status_code == 200
        print(f"tickets.json: {(time.perf_counter() - start) * 1000:.0f} ms, {len(listing.content) / 1e6:.1f} MB "
              f"({listing.headers.get('content-encoding', 'identity')} on the wire: {int(listing.headers.get('content-length', 0)) / 1e6:.1f} MB)",
              file=sys.stderr)
    app.state.engine.dispose()
    return percentiles(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--registrations", type=int, default=100_000)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    count = args.count
    url, remove_database = make_database(args.engine)
    try:
        with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
            start = time.perf_counter()
            build_dataset(url, events=200, registrations=0)
            tickets = fill(url, args.registrations)
            print(f"inserted {len(tickets):,} registrations in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            engine = make_engine(url)
            if engine.dialect.name == "postgresql":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE")
            actor = run_unit_of_work(make_session_factory(engine), organisers.add_organiser, "bench@example.org", PASSWORD, name="Bench")
            engine.dispose()
            confirmed = [code for code, status in tickets if status == "confirmed"]
            again = [code for code, status in tickets if status == "in"]
            need = count + WARMUP
            fresh, http_codes = confirmed[: need + (count // 50) * 50 + 50], confirmed[-need:]
            load = os.getloadavg()[0]
            service = measure_service(url, actor, fresh, again, count)
            settings = Settings(database_url=url, secret_key=Secret("bench"), var_dir=Path(tmp) / "var")
            http = asyncio.run(measure_http(settings, http_codes, count))
    finally:
        remove_database()

    print(f"\n{datetime.now():%Y-%m-%d}, {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}, "
          f"{args.engine}, {args.registrations:,} registrations, load average {load:.1f}; {count} scans each after {WARMUP} discarded")
    print("| the server's part of a scan | median ms | p95 ms |\n|---|---:|---:|")
    for label, (median, p95) in service.items():
        print(f"| {label} (service, one unit of work) | {median:.1f} | {p95:.1f} |")
    print(f"| a scan POSTed as JSON, in process (first scan of a ticket) | {http[0]:.1f} | {http[1]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

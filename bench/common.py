"""Shared by the benchmark scripts: a data set, servers started the same way, and wrk."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import httpx2 as httpx
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from portal import migrate
from portal.db import make_engine
from portal.models import Event, Programme, Registration

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PYTHON = sys.executable
# The same uvicorn settings for the portal and for the hello yardstick.
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
UVICORN_FLAGS = ["--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_database(engine: str) -> tuple[str, Callable[[], None]]:
    """An empty database for one benchmark run, and what removes it: a file under results/ for
    SQLite, a new database on the local server for PostgreSQL (PORTAL_BENCH_PG_ADMIN overrides
    the address)."""
    RESULTS.mkdir(exist_ok=True)
    if engine == "sqlite":
        path = RESULTS / f"bench-{uuid.uuid4().hex[:6]}.sqlite3"
        url = f"sqlite:///{path}"

        def remove() -> None:
            for p in RESULTS.glob(path.name + "*"):
                p.unlink(missing_ok=True)

        return url, remove
    pg_admin = os.environ.get("PORTAL_BENCH_PG_ADMIN", PG_ADMIN)
    name = f"portal_bench_{uuid.uuid4().hex[:6]}"
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(pg_admin).set(database=name).render_as_string(hide_password=False), drop


def build_dataset(url: str, *, events: int = 2000, registrations: int = 50_000) -> None:
    """A migrated database with `events` published events over six programmes and
    `registrations` confirmed registrations spread over them."""
    migrate.upgrade(url)
    engine = make_engine(url)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    codes = ["appsmo", "appsno", "tatc", "isf-asia", "srp-ep", "iccs"]
    with engine.begin() as conn:
        conn.execute(insert(Programme), [
            {"code": c, "name": f"Programme {c}", "admission": "open", "summary": "", "description": "",
             "created_at": now, "updated_at": now}
            for c in codes
        ])
        rows = []
        for i in range(events):
            start = now + timedelta(days=i % 700 - 200, hours=i % 9)
            rows.append({
                "uid": f"bench-{i}@portal", "slug": f"event-{i}", "title": f"Seminar {i}: maritime security, cyber norms & more",
                "programme_id": (i % 7) + 1 if i % 7 < 6 else None, "category": ["seminar", "webinar", "course", "lecture"][i % 4],
                "starts_at": start, "ends_at": start + timedelta(hours=2), "timezone": "Asia/Singapore", "all_day": False,
                "venue": "RSIS, Block S4", "address": "50 Nanyang Avenue, Singapore 639798", "online_url": None,
                "capacity": 200, "waitlist": True, "status": "published", "description": "A talk. " * 40,
                "speakers": ["Dr A. Speaker, RSIS"], "sequence": 0, "published_at": now, "created_at": now, "updated_at": now,
            })
        conn.execute(insert(Event), rows)
        batch = []
        for j in range(registrations):
            batch.append({
                "event_id": (j % events) + 1, "email": f"p{j}@example.org", "name": f"Participant {j}", "organisation": "Ministry",
                "answers": {}, "status": "confirmed", "token": secrets.token_urlsafe(32), "consented_at": now,
                "confirmed_at": now, "created_at": now, "updated_at": now,
            })
            if len(batch) == 5000:
                conn.execute(insert(Registration), batch)
                batch = []
        if batch:
            conn.execute(insert(Registration), batch)
    if engine.dialect.name == "postgresql":
        # As autovacuum would within a minute of a bulk load: statistics for the planner and a
        # visibility map, without which every count reads the tables' pages too.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


@contextmanager
def server(app: str, *, env: dict[str, str] | None = None, factory: bool = False, workers: int = 1, cwd: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    cmd = [PYTHON, "-m", "uvicorn", app, "--port", str(port), "--workers", str(workers), *UVICORN_FLAGS]
    if factory:
        cmd.append("--factory")
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, cwd=cwd or HERE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(base + "/", timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start") from None
            time.sleep(0.1)
    try:
        yield base, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk(
    url: str,
    *,
    seconds: int = 10,
    connections: int = 32,
    threads: int = 1,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> dict[str, float]:
    """Requests per second and latency percentiles (ms) from wrk (one thread: the machine
    has two cores). `script` is a wrk Lua script, e.g. one that makes POST requests."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result = {"rps": rps, "non_2xx_3xx": float(non2xx.group(1)) if non2xx else 0.0}
    for pct in ("50", "99"):
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        if found:
            result[f"p{pct}"] = float(found.group(1)) * _UNITS_MS[found.group(2)]
    requests = re.search(r"(\d+) requests in", out)
    result["requests"] = float(requests.group(1)) if requests else 0.0
    return result


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]

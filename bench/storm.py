"""A storm of distinct requests: does a worker's memory stay bounded when every request is
new to its caches? (issue 15; the suite's tests/web/test_hostile_server.py asserts a
smaller version of the same.)

    .venv/bin/python bench/storm.py [--engine sqlite|postgresql] [--requests 3000] [--query-kb 32]

Data: 2,000 events and 50,000 registrations. One `portal serve` worker; requests one at a
time over one keep-alive connection, each with a query no request sent before:
- a kept page (the site feed) with a long junk query: a new page-cache entry each time;
- a page that is never kept (sign-in) with a long junk query: a new private address each time;
- the site feed filtered by a new category each time: a new feed-cache entry each time;
- the listing searched for a new word each time: the uncached path, rendered each time.
Printed: the worker's resident memory before and after each storm, and its peak.
"""

from __future__ import annotations

import argparse
import secrets
import time
from pathlib import Path

import httpx2 as httpx

from common import RESULTS, build_dataset, make_database, server


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--query-kb", type=int, default=32)
    args = parser.parse_args()
    filler = "a" * (args.query_kb * 1000)
    storms = {
        f"kept page, new {args.query_kb} kB query": lambda i: f"/calendar.ics?storm={i}{filler}",
        f"private page, new {args.query_kb} kB query": lambda i: f"/admin/sign-in?storm={i}{filler}",
        "feed of a new category": lambda i: f"/calendar.ics?category={secrets.token_hex(90)}",
        "listing searched for a new word": lambda i: f"/events?q={secrets.token_hex(4)}",
    }
    url, cleanup = make_database(args.engine)
    try:
        build_dataset(url)
        env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench", "PORTAL_DELIVER_IN_PROCESS": "0"}
        with server("portal.app:create_app", factory=True, env=env, cwd=RESULTS) as (base, proc):
            with httpx.Client(base_url=base, timeout=30) as client:
                for i in range(100):  # warm-up: imports, pools, templates, the full feed
                    client.get(f"/calendar.ics?warm={i}")
                    client.get(f"/admin/sign-in?warm={i}")
                    client.get(f"/events?q=warm{i}")
                start, _ = rss_mb(proc.pid)
                print(f"worker after warm-up: {start:.0f} MB ({args.engine}, {args.requests} requests a storm)")
                for label, path in storms.items():
                    count = args.requests if "listing" not in label else max(1, args.requests // 10)
                    before, _ = rss_mb(proc.pid)
                    t0 = time.perf_counter()
                    for i in range(count):
                        answer = client.get(path(i))
                        assert answer.status_code == 200, (label, answer.status_code)
                    after, peak = rss_mb(proc.pid)
                    print(
                        f"{label:40} {count:5} requests in {time.perf_counter() - t0:5.1f} s: "
                        f"{before:.0f} -> {after:.0f} MB (+{after - before:.0f}), peak {peak:.0f} MB"
                    )
                final, peak = rss_mb(proc.pid)
                print(f"worker at the end: {final:.0f} MB, peak {peak:.0f} MB (+{final - start:.0f} MB over the storms)")
    finally:
        cleanup()


if __name__ == "__main__":
    main()

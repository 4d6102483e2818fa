"""Issue 16's figures: the paths the page cache cannot help, as ratios to the bare Starlette
hello served by the same uvicorn settings in the same run.

    .venv/bin/python bench/cold.py [--engine sqlite|postgresql] [--events 2000] [--registrations 50000]
                                   [--seconds 10] [--workers 1]

Rows (wrk, 32 connections, one thread, a second process; a 3 s warm-up discarded):
- search, a long tail: every request asks /events?q= for words no request asked before;
- listing pages in random combinations of programme, category, past or upcoming and page;
- /events, an event page and the site feed while registrations arrive at 20 a second (a
  thread of this process registers new addresses for another event all along);
- the registration POST at 32 concurrent (p50, p99 and the rate; pages.registration_post), with
  `--workers` workers;
- an uncached listing page's cost in process (a new search each time), for comparing data
  sizes: run the script at --events 2000 and 20000 and compare the two figures.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from pathlib import Path

import httpx2 as httpx
from pages import CSRF, registration_post

from common import RESULTS, build_dataset, make_database, server, wrk

# Every request a query never seen: a word from the data set's text with a counter on it
# (a prefix of a real word, so the search has something to find as well as to miss).
SEARCH_SCRIPT = """
local counter = 0
local words = {"mari", "cyber", "semin", "norms", "talk", "securi", "block", "nanyang", "more", "program"}
request = function()
  counter = counter + 1
  local word = words[(counter %% #words) + 1]
  return wrk.format("GET", "/events?q=" .. word .. "+" .. counter .. "%(run)s")
end
"""

LISTING_SCRIPT = """
math.randomseed(%(seed)d)
local programmes = {"", "appsmo", "appsno", "tatc", "isf-asia", "srp-ep", "iccs"}
local categories = {"", "seminar", "webinar", "course", "lecture"}
request = function()
  local path = "/events?page=" .. math.random(1, 40)
  local p = programmes[math.random(1, #programmes)]
  local c = categories[math.random(1, #categories)]
  if p ~= "" then path = path .. "&programme=" .. p end
  if c ~= "" then path = path .. "&category=" .. c end
  if math.random() < 0.3 then path = path .. "&when=past" end
  return wrk.format("GET", path)
end
"""


def script(text: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"cold-{uuid.uuid4().hex[:8]}.lua"
    path.write_text(text)
    return path


def registering(base: str, slug: str, per_second: float, stop: threading.Event, done: list[int]) -> None:
    """Register a new address for `slug` every 1/per_second seconds until `stop`."""
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get(f"/events/{slug}/register")
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        n, start, run = 0, time.monotonic(), uuid.uuid4().hex[:6]
        while not stop.is_set():
            n += 1
            answer = client.post(
                f"/events/{slug}/register",
                data={"csrf_token": token, "name": f"Steady {n}", "email": f"steady-{run}-{n}@example.org", "consent": "y"},
            )
            if answer.status_code == 303:
                done[0] += 1
            wait = start + n / per_second - time.monotonic()
            if wait > 0:
                stop.wait(wait)


def standalone(events: int, nth: int) -> str:
    """The slug of the nth-latest standalone event of common.build_dataset (every seventh
    event has no programme, so its form asks nothing beyond the identity fields)."""
    last = events - 1 - (events - 1 - 6) % 7
    return f"event-{last - 7 * nth}"


def uncached_ms(base: str, samples: int = 40) -> float:
    """One listing request with a search never made before, one at a time (median, ms)."""
    times = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(samples + 5):
            t0 = time.perf_counter()
            assert client.get(f"/events?q=semin+{uuid.uuid4().hex[:6]}").status_code == 200
            if i >= 5:
                times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--registrations", type=int, default=50_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--rows", default="search,listing,uncached,registering,post",
        help="which rows, comma-separated (default all): search, listing, uncached, registering, post",
    )
    args = parser.parse_args()
    rows = set(args.rows.split(","))

    url, cleanup = make_database(args.engine)
    try:
        t0 = time.perf_counter()
        build_dataset(url, events=args.events, registrations=args.registrations)
        print(f"data set: {args.events:,} events, {args.registrations:,} registrations, {args.engine}, built in {time.perf_counter() - t0:.0f} s")
        env = {
            "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench", "PORTAL_CACHE_SECONDS": "1",
            # All the load comes from one address: that limit is off; the per-email one counts.
            "PORTAL_DELIVER_IN_PROCESS": "0", "PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE": "0",
        }
        with server("hello:app") as (hello, _):
            wrk(hello + "/", seconds=3)
            hello_rps = wrk(hello + "/", seconds=args.seconds)["rps"]
        print(f"{'hello':44} {hello_rps:8.0f} req/s   1.00")

        def row(label: str, result: dict[str, float]) -> None:
            print(f"{label:44} {result['rps']:8.0f} req/s   {result['rps'] / hello_rps:.3f}  (non-2xx: {result['non_2xx_3xx']:.0f})")

        middle = f"event-{args.events // 2 + 1}"
        with server("portal.app:create_app", factory=True, env=env, cwd=RESULTS, workers=args.workers) as (base, _):
            run = uuid.uuid4().hex[:4]
            if "search" in rows:
                wrk(base + "/", seconds=3, script=script(SEARCH_SCRIPT % {"run": "w" + run}))
                row("search, each query new", wrk(base + "/", seconds=args.seconds, script=script(SEARCH_SCRIPT % {"run": run})))
            if "listing" in rows:
                row("listing, random filters and page", wrk(base + "/", seconds=args.seconds, script=script(LISTING_SCRIPT % {"seed": 7})))
            if "uncached" in rows:
                print(f"uncached listing page, one at a time: {uncached_ms(base):.1f} ms (median of 40)")
            if "registering" in rows:
                registering_rows(base, args, row, middle)
            if "post" in rows:
                r = registration_post(base, standalone(args.events, 0), args.seconds, run)
                print(
                    f"registration POST, 32 concurrent, {args.workers} worker(s): {r['requests']:.0f} in {args.seconds} s "
                    f"({r['rps']:.0f}/s), p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms (non-3xx: {r['non_2xx_3xx']:.0f})"
                )
    finally:
        for leftover in RESULTS.glob("cold-*.lua"):
            leftover.unlink(missing_ok=True)
        cleanup()


def registering_rows(base: str, args: argparse.Namespace, row, middle: str) -> None:
    stop, done = threading.Event(), [0]
    steady = threading.Thread(target=registering, args=(base, standalone(args.events, 1), 20.0, stop, done), daemon=True)
    # The site feed built once before its row: at 20,000 events the first build takes longer
    # than the row lasts, and a registration does not drop the kept feed, so it is built once.
    httpx.get(base + "/calendar.ics", headers={"Accept-Encoding": "gzip"}, timeout=600)
    steady.start()
    try:
        began = time.monotonic()
        for label, path, headers in (
            ("/events while registering at 20/s", "/events", {}),
            ("event page while registering at 20/s", f"/events/{middle}", {}),
            ("site feed (gzip) while registering at 20/s", "/calendar.ics", {"Accept-Encoding": "gzip"}),
        ):
            wrk(base + path, seconds=2, headers=headers)
            row(label, wrk(base + path, seconds=args.seconds, headers=headers))
        elapsed = time.monotonic() - began
    finally:
        stop.set()
        steady.join()
    print(f"  (registrations made meanwhile: {done[0]} in {elapsed:.0f} s, {done[0] / elapsed:.1f}/s)")


if __name__ == "__main__":
    main()

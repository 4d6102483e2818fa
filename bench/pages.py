"""Issue 6's figures: public pages, feeds and registration under load, each as a ratio to the
bare Starlette hello endpoint served by the same uvicorn settings in the same run.

    .venv/bin/python bench/pages.py [--engine sqlite|postgresql] [--seconds 10] [--runs 2]

Data: 2,000 events and 50,000 registrations. Load: wrk, 32 connections, one thread, from a
second process; a warm-up of 3 s per path is discarded.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import time
import uuid

import httpx2 as httpx
from sqlalchemy import create_engine, text

from common import RESULTS, build_dataset, children, make_database, peak_rss_mb, server, wrk

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


POST_SCRIPT = """
-- Each request registers a new email address for the same event, with one visitor's
-- CSRF cookie and token (the token is an HMAC of the cookie, so the pair stays valid).
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "%(cookie)s"
request = function()
  counter = counter + 1
  local body = "csrf_token=%(token)s&name=Bench+" .. counter ..
    "&email=bench-%(run)s-" .. counter .. "%%40example.org&consent=y"
  return wrk.format(nil, nil, nil, body)
end
"""


def registration_post(base: str, slug: str, seconds: int, run: str) -> dict[str, float]:
    """wrk POSTs new registrations at 32 connections; latency percentiles from wrk."""
    page = httpx.get(f"{base}/events/{slug}/register")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    cookie = "; ".join(f"{k}={v}" for k, v in page.cookies.items())
    script = RESULTS / f"post-{run}.lua"
    script.write_text(POST_SCRIPT % {"cookie": cookie, "token": token, "run": run})
    try:
        return wrk(f"{base}/events/{slug}/register", seconds=seconds, script=script)
    finally:
        script.unlink(missing_ok=True)


def feed_rebuild_ms(base: str, url: str, cache_seconds: float, samples: int = 7) -> float | None:
    """Edit one event from outside the server, then time the first full feed after it."""
    if httpx.get(base + "/calendar.ics").status_code != 200:
        return None
    engine = create_engine(url)
    # One client made beforehand: making one (its TLS context) costs tens of ms on its own.
    client = httpx.Client(base_url=base, timeout=30)
    times = []
    for i in range(samples):
        with engine.begin() as c:
            c.execute(text("UPDATE events SET title = :t, sequence = sequence + 1 WHERE id = 7"), {"t": f"Edited {i}"})
            c.execute(text("UPDATE change_marker SET version = version + 1 WHERE id = 1"))
        time.sleep(cache_seconds + 0.2)
        # Timed to the last byte received, as a calendar app gets it (gzip); decoding the
        # 1.8 MB it unpacks to is the client's work and happens after the clock stops.
        t0 = time.perf_counter()
        with client.stream("GET", "/calendar.ics", headers={"Accept-Encoding": "gzip"}) as r:
            raw = b"".join(r.iter_raw())
        times.append((time.perf_counter() - t0) * 1000)
        assert r.headers["content-encoding"] == "gzip"
        assert f"Edited {i}".encode() in gzip.decompress(raw)
    engine.dispose()
    client.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()

    url, cleanup = make_database(args.engine)
    try:
        t0 = time.perf_counter()
        build_dataset(url)
        print(f"data set built in {time.perf_counter() - t0:.1f}s ({args.engine})")
        env = {
            "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench", "PORTAL_CACHE_SECONDS": "1",
            # Production runs `portal worker` beside the server; all the load comes from one
            # address here, so the per-address limit would refuse it.
            "PORTAL_DELIVER_IN_PROCESS": "0", "PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE": "0",
        }
        paths = {
            "/events": "/events",
            "/events/{slug}": "/events/event-1500",
            "/programmes/{code}": "/programmes/tatc",
        }
        for run in range(1, args.runs + 1):
            print(f"\n== run {run} ==")
            with server("hello:app") as (hello, _):
                wrk(hello + "/", seconds=3)
                base_rps = wrk(hello + "/", seconds=args.seconds)["rps"]
            print(f"hello                         {base_rps:9.0f} req/s   1.00")
            with server("portal.app:create_app", factory=True, env=env, cwd=RESULTS) as (base, proc):
                for label, path in paths.items():
                    wrk(base + path, seconds=3)
                    r = wrk(base + path, seconds=args.seconds)
                    print(f"{label:29} {r['rps']:9.0f} req/s   {r['rps'] / base_rps:.2f}  (non-2xx: {r['non_2xx_3xx']:.0f})")
                feed = httpx.get(base + "/calendar.ics")
                if feed.status_code == 200:
                    etag = feed.headers["etag"]
                    wrk(base + "/calendar.ics", seconds=3, headers={"If-None-Match": etag})
                    r = wrk(base + "/calendar.ics", seconds=args.seconds, headers={"If-None-Match": etag})
                    print(f"{'/calendar.ics 304':29} {r['rps']:9.0f} req/s   {r['rps'] / base_rps:.2f}")
                    # Calendar apps ask for gzip (Google, Apple and Outlook all send Accept-Encoding).
                    gz = httpx.get(base + "/calendar.ics", headers={"Accept-Encoding": "gzip"})
                    wire = int(gz.headers["content-length"])
                    r = wrk(base + "/calendar.ics", seconds=args.seconds, headers={"Accept-Encoding": "gzip"})
                    print(f"{'/calendar.ics full, gzip':29} {r['rps']:9.0f} req/s   {r['rps'] / base_rps:.2f}  ({wire / 1e3:.0f} kB on the wire)")
                    r = wrk(base + "/calendar.ics", seconds=args.seconds)
                    print(f"{'/calendar.ics full, plain':29} {r['rps']:9.0f} req/s   {r['rps'] / base_rps:.2f}  ({len(feed.content) / 1e6:.1f} MB)")
                    print(f"full feed rebuilt after an edit: {feed_rebuild_ms(base, url, 1.0):.0f} ms (median of 7)")
                r = registration_post(base, "event-1999", args.seconds, f"{run}{uuid.uuid4().hex[:4]}")
                print(
                    f"registration POST, 32 concurrent: {r['requests']:.0f} in {args.seconds}s ({r['rps']:.0f}/s), "
                    f"p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms (non-3xx: {r['non_2xx_3xx']:.0f})"
                )
                pids = children(proc.pid) or [proc.pid]
                print(f"worker peak RSS: {max(peak_rss_mb(p) for p in pids):.0f} MB")
    finally:
        cleanup()


if __name__ == "__main__":
    main()

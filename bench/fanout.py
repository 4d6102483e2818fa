"""Issue 18's mass email, measured: fanning one announcement out to 50,000 subscribers, an
organiser's message to 5,000 registrants, delivery to a local SMTP sink, and the public pages
while all that runs.

    .venv/bin/python bench/fanout.py [--engine sqlite|postgresql] [--subscribers 50000]
        [--registrants 5000] [--deliver 5000] [--seconds 10]

1. Fan-out: 50,000 confirmed subscribers (a third of them to one programme, a third to one
   category), one event published; the time from the publishing transaction to the last
   announcement row in the outbox, fanned out as the worker does (mail.mailings: each batch
   of 500 rendered in a read transaction, then written in a short writing one), and the
   longest writing transaction (how long a registration could wait for the write lock).
2. The organiser's message: one event with `--registrants` confirmed registrants; the time
   the send takes in the request (it writes the message and its mailing) and the time the
   worker takes to queue every email.
3. Delivery: `--deliver` of those emails sent by the worker's delivery loop to an SMTP sink
   on this machine (aiosmtpd, accepting everything; the portal's transport sends a batch of
   50 over one connection): messages per second.
4. The public pages while the worker works: wrk for `--seconds` on an event page (GET) and
   on its registration form (POST, new registrations), first with no worker running, then
   with `portal worker` fanning out and delivering a new message to the `--registrants`
   (queued by the organiser's Send just before the load starts); requests per second and
   latency, the busy run as a ratio of the idle one, and how many emails the worker
   delivered meanwhile.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select

from portal.catalogue import editing
from portal.db import make_engine, make_session_factory, run_unit_of_work, transaction
from portal.mail import mailings
from portal.mail.audiences import ListOptions
from portal.mail.outbox import deliver_due
from portal.mail.transports import SMTPTransport
from portal.models import Event, EventMessage, EventStatus, MailingKind, MessageStatus, OutboxMessage, Registration, Subscriber
from portal.site import Site

from common import PYTHON, build_dataset, free_port, make_database, server, wrk
from pages import registration_post


class Sink:
    """Accepts every message and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        self.count += 1
        return "250 OK"


def add_subscribers(url: str, n: int) -> None:
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        rows = []
        for i in range(n):
            programmes = ["tatc"] if i % 3 == 1 else []
            categories = ["seminar"] if i % 3 == 2 else []
            rows.append({
                "email": f"reader{i}@example.org", "token": secrets.token_urlsafe(32), "frequency": "each",
                "programmes": programmes, "categories": categories, "confirmed_at": now, "created_at": now, "updated_at": now,
            })
            if len(rows) == 5000:
                conn.execute(insert(Subscriber), rows)
                rows = []
        if rows:
            conn.execute(insert(Subscriber), rows)
    engine.dispose()


def add_registrants(url: str, slug: str, n: int) -> int:
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        event_id = conn.execute(select(Event.id).where(Event.slug == slug)).scalar_one()
        conn.execute(insert(Registration), [
            {"event_id": event_id, "email": f"guest{i}@example.org", "name": f"Guest {i}", "organisation": "Ministry",
             "answers": {}, "status": "confirmed", "token": secrets.token_urlsafe(32), "consented_at": now,
             "confirmed_at": now, "created_at": now, "updated_at": now}
            for i in range(n)
        ])
    engine.dispose()
    return event_id


def timed_fan_out(sessions, site: Site) -> tuple[float, float, int]:
    """Fan out everything due as the worker does (render in a read transaction, write in a
    short writing one); (seconds, the longest writing transaction in ms, batches)."""
    longest = 0.0
    batches = 0
    started = time.perf_counter()
    while True:
        with transaction(sessions, write=False) as session:
            prepared = mailings.prepare_batch(session, site, ListOptions(), now=datetime.now(timezone.utc), limit=mailings.FAN_OUT_BATCH)
        if prepared is None:
            break
        t = time.perf_counter()
        with transaction(sessions, write=True) as session:
            mailings.commit_batch(session, prepared, now=datetime.now(timezone.utc))
        longest = max(longest, (time.perf_counter() - t) * 1000)
        batches += 1
    return time.perf_counter() - started, longest, batches


def count(sessions, kind: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == kind))


def write_message(session, event_id: int, nonce: str) -> None:
    """What the organiser's Send does in its request: the message and one mailing."""
    message = EventMessage(event_id=event_id, subject="Programme for {event}", body="Dear {name},\n\nThe programme is attached to your [registration]({manage_url}).",
                           audience={"statuses": ["confirmed"]}, recipients=0, nonce=nonce, sender="bench@example.org")
    session.add(message)
    session.flush()
    mailings.schedule(session, MailingKind.MESSAGE, f"message:{message.id}", event_id=event_id, message_id=message.id)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--subscribers", type=int, default=50_000)
    parser.add_argument("--registrants", type=int, default=5_000)
    parser.add_argument("--deliver", type=int, default=5_000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()

    url, remove = make_database(args.engine)
    try:
        build_dataset(url, events=800, registrations=2_000)
        add_subscribers(url, args.subscribers)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        site = Site()
        # 1. The announcement.
        with transaction(sessions, write=True) as session:
            event = session.scalars(select(Event).where(Event.slug == "event-100")).one()
            event.starts_at = datetime.now(timezone.utc) + timedelta(days=10)
            event.ends_at = event.starts_at + timedelta(hours=2)
            event.status = EventStatus.DRAFT
            slug = event.slug
        t = time.perf_counter()
        run_unit_of_work(sessions, editing.publish_event, None, slug)
        publish_ms = (time.perf_counter() - t) * 1000
        seconds, longest, batches = timed_fan_out(sessions, site)
        announced = count(sessions, "announcement")
        print(f"announcement to {args.subscribers} subscribers: publish {publish_ms:.1f} ms; fan-out {seconds:.2f} s for "
              f"{announced} emails ({announced / seconds:.0f}/s), {batches} batches, longest write {longest:.0f} ms")

        # 2. The organiser's message.
        target = "event-150"
        event_id = add_registrants(url, target, args.registrants)
        t = time.perf_counter()
        run_unit_of_work(sessions, write_message, event_id, "bench-1")
        send_ms = (time.perf_counter() - t) * 1000
        seconds, longest, batches = timed_fan_out(sessions, site)
        messages = count(sessions, "message")
        print(f"message to {messages} registrants: the send {send_ms:.1f} ms; queued in {seconds:.2f} s "
              f"({messages / seconds:.0f}/s), longest write {longest:.0f} ms")

        # 3. Delivery to a sink.
        sink = Sink()
        port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            transport = SMTPTransport("127.0.0.1", port, security="none", timeout=10)
            t = time.perf_counter()
            sent = 0
            while sent < args.deliver:
                done, failed = deliver_due(sessions, transport, "portal@example.org", limit=min(50, args.deliver - sent))
                if done + failed == 0:
                    break
                sent += done
            seconds = time.perf_counter() - t
            print(f"delivery: {sent} emails in {seconds:.1f} s ({sent / seconds:.0f}/s) to a local SMTP sink")

            # 4. The public pages, idle worker and busy worker.
            with transaction(sessions, write=True) as session:
                session.query(OutboxMessage).filter(OutboxMessage.status == MessageStatus.QUEUED).delete()
            env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "bench", "PORTAL_CACHE_SECONDS": "1",
                   "PORTAL_DELIVER_IN_PROCESS": "0", "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{port}?tls=none",
                   "PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE": "0", "PORTAL_REGISTRATIONS_PER_EMAIL_PER_MINUTE": "0"}
            with server("portal.app:create_app", factory=True, env=env) as (base, _proc):
                page = f"{base}/events/{target}"
                wrk(page, seconds=2)
                idle = {"page": wrk(page, seconds=args.seconds), "post": registration_post(base, "event-400", args.seconds, "idle")}
                before = sink.count
                run_unit_of_work(sessions, write_message, event_id, "bench-2")
                worker = subprocess.Popen([PYTHON, "-m", "portal.cli", "worker", "--interval", "0.2"], env={**os.environ, **env},
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    busy = {"page": wrk(page, seconds=args.seconds), "post": registration_post(base, "event-401", args.seconds, "busy")}
                finally:
                    worker.terminate()
                    worker.wait(timeout=30)
                for what, label in (("page", "event page (GET)"), ("post", "registration (POST)")):
                    a, b = idle[what], busy[what]
                    print(f"{label}, no worker: {a['rps']:.0f} req/s, p50 {a['p50']:.1f} ms, p99 {a['p99']:.1f} ms")
                    print(f"{label}, worker busy: {b['rps']:.0f} req/s ({b['rps'] / a['rps']:.2f}), "
                          f"p50 {b['p50']:.1f} ms ({b['p50'] / a['p50']:.2f}), p99 {b['p99']:.1f} ms ({b['p99'] / a['p99']:.2f})")
                print(f"the worker delivered {sink.count - before} emails during the two busy runs (the message's, and the busy "
                      "run's registrations' confirmations, which go first)")
        finally:
            controller.stop()
        engine.dispose()
    finally:
        remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Delivering the outbox: claim due messages, send them, record the outcome.

A message is claimed (leased) in one short transaction, sent outside any transaction, and
marked sent or failed in its own transaction at once after the send. Delivery is
at-least-once:

- Several workers never send the same message while they are alive. On PostgreSQL they
  claim disjoint rows with FOR UPDATE SKIP LOCKED; on SQLite the claim runs under the
  database's single write lock, so workers take turns (run one; more gain nothing). A worker
  starts a send only while enough of its lease remains that no other worker can take the
  message over mid-send, and hands back the rest of its batch when time runs short.
- A worker killed mid-batch loses nothing: its claims expire after LEASE and another worker
  (or the same one, restarted) sends those messages. Messages it had already recorded as
  sent are not sent again.
- The one gap: a message the mail server accepted but whose "sent" record did not commit
  (the process died, or the database went away, between the two) is sent again. Recording
  each message the moment its send returns keeps that window to one short transaction.

A failed send is tried again with a growing wait (the server down, a 4xx reply, a timeout,
a refused login) and marked failed after MAX_ATTEMPTS; one the transport calls
Undeliverable (a 5xx refusal of the recipient or the message, or a message that cannot be
built) is marked failed at once with its reason, for an organiser to see and resend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from portal.db import transaction, utcnow
from portal.mail.transports import Envelope, Transport, Undeliverable
from portal.models import MessageStatus, OutboxMessage

log = logging.getLogger("portal.mail")

MAX_ATTEMPTS = 8
# How long a claim holds a message against other workers.
LEASE = timedelta(minutes=5)
# A send is started only while at least this much of the lease remains: far longer than a
# send takes, even against a slow server (every SMTP step times out after SMTP_TIMEOUT).
LEASE_MARGIN = timedelta(minutes=3)
BATCH = 50


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4, 8... minutes, at most 4 hours."""
    return timedelta(minutes=min(2 ** (attempts - 1), 240))


def claim_due(
    session: Session, *, now: datetime, limit: int = BATCH, lease: timedelta = LEASE, mail_domain: str = "localhost"
) -> list[Envelope]:
    """Lease up to `limit` due messages to this worker and return them: first the queue's own
    (a confirmation, a manage link, a test), then a mailing's, so that a person waiting for
    their link never waits behind an announcement to thousands."""

    def due(*which: ColumnElement[bool], limit: int) -> list[OutboxMessage]:
        return list(session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == MessageStatus.QUEUED,
                *which,
                OutboxMessage.next_attempt_at <= now,
                or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ))

    messages = due(OutboxMessage.mailing_id.is_(None), limit=limit)
    if len(messages) < limit:
        messages += due(OutboxMessage.mailing_id.is_not(None), limit=limit - len(messages))
    until = now + lease
    for message in messages:
        message.claimed_until = until
    return [
        Envelope(
            m.id, m.to_address, m.subject, m.body_text, m.body_html, list(m.attachments or []), until,
            headers=dict(m.headers or {}), message_id=message_id(m, mail_domain),
        )
        for m in messages
    ]


def message_id(message: OutboxMessage, domain: str) -> str:
    """The Message-ID of an outbox row: its id and the moment it was written, the same at
    every try."""
    return f"<outbox-{message.id}.{message.created_at:%Y%m%d%H%M%S%f}@{domain or 'localhost'}>"


def release(session: Session, envelopes: Sequence[Envelope]) -> None:
    """Hand back claimed messages that were not attempted, for any worker to take at once."""
    for envelope in envelopes:
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == envelope.id,
                OutboxMessage.status == MessageStatus.QUEUED,
                OutboxMessage.claimed_until == envelope.claimed_until,
            )
            .values(claimed_until=None)
        )


def record_sent(session: Session, message_id: int, *, now: datetime) -> None:
    """Mark a message sent."""
    message = session.get_one(OutboxMessage, message_id)
    message.status = MessageStatus.SENT
    message.attempts += 1
    message.sent_at = now
    message.claimed_until = None
    message.last_error = ""


def record_failure(
    session: Session, message_id: int, error: str, *, now: datetime, max_attempts: int = MAX_ATTEMPTS, final: bool = False
) -> None:
    """Count a failed attempt: try again after the backoff, or, when `final` or out of
    attempts, mark the message failed."""
    message = session.get_one(OutboxMessage, message_id)
    message.attempts += 1
    message.last_error = error[:2000]
    message.claimed_until = None
    if final or message.attempts >= max_attempts:
        message.status = MessageStatus.FAILED
    else:
        message.next_attempt_at = now + backoff(message.attempts)


def deliver_due(
    sessions: sessionmaker[Session],
    transport: Transport,
    mail_from: str,
    *,
    now: Callable[[], datetime] = utcnow,
    limit: int = BATCH,
    max_attempts: int = MAX_ATTEMPTS,
    stop: threading.Event | None = None,
) -> tuple[int, int]:
    """Send one batch of what is due; returns (sent, failed attempts).

    A send that raises (server down, refused, timed out, or anything else) is recorded as a
    failed attempt and never ends the batch; an Undeliverable message is marked failed at
    once. Asked to `stop`, it finishes the message in hand and hands the rest back.
    """
    with transaction(sessions, write=True) as session:
        batch = claim_due(session, now=now(), limit=limit, mail_domain=mail_from.rpartition("@")[2].strip("> "))
    untried = list(reversed(batch))
    # A transport that can carry a batch over one connection (SMTP) does so.
    batched = getattr(transport, "batch", None)
    with batched() if batched is not None and batch else contextlib.nullcontext():
        sent, failed = _send_batch(sessions, transport, mail_from, untried, now=now, max_attempts=max_attempts, stop=stop)
    return sent, failed


def _send_batch(
    sessions: sessionmaker[Session], transport: Transport, mail_from: str, untried: list[Envelope], *,
    now: Callable[[], datetime], max_attempts: int, stop: threading.Event | None,
) -> tuple[int, int]:
    sent = failed = 0
    try:
        while untried:
            envelope = untried[-1]
            assert envelope.claimed_until is not None
            if (stop is not None and stop.is_set()) or now() > envelope.claimed_until - LEASE_MARGIN:
                break
            untried.pop()
            try:
                transport.send(mail_from, envelope)
            except Exception as exc:  # noqa: BLE001 - a send error of any kind is the message's, not the worker's
                failed += 1
                final = isinstance(exc, Undeliverable)
                if final:
                    log.warning("email %s to %s is undeliverable, not retried: %s", envelope.id, envelope.to_address, exc)
                elif isinstance(exc, (OSError, smtplib.SMTPException)):
                    log.warning("email %s to %s failed: %s: %s", envelope.id, envelope.to_address, type(exc).__name__, exc)
                else:
                    log.exception("email %s to %s failed unexpectedly", envelope.id, envelope.to_address)
                with transaction(sessions, write=True) as session:
                    record_failure(
                        session, envelope.id, f"{type(exc).__name__}: {exc}", now=now(), max_attempts=max_attempts, final=final
                    )
            else:
                sent += 1
                with transaction(sessions, write=True) as session:
                    record_sent(session, envelope.id, now=now())
    finally:
        if untried:
            _release_quietly(sessions, untried)
    return sent, failed


def _release_quietly(sessions: sessionmaker[Session], envelopes: Sequence[Envelope]) -> None:
    # Best effort: if this fails too (the database is gone), the leases simply expire.
    try:
        with transaction(sessions, write=True) as session:
            release(session, envelopes)
    except Exception:  # noqa: BLE001
        log.warning("could not hand back %d claimed emails; they are retried when their lease ends", len(envelopes))


def run_worker(
    sessions: sessionmaker[Session],
    transport: Transport,
    mail_from: str,
    *,
    once: bool = False,
    interval: float = 5.0,
    stop: threading.Event | None = None,
    now: Callable[[], datetime] = utcnow,
    batch: int = BATCH,
    housekeeping: Callable[[], None] | None = None,
    housekeeping_every: float = 600.0,
    jobs: Callable[[threading.Event], int] | None = None,
) -> None:
    """Deliver until stopped, polling every `interval` seconds when idle; with `once`,
    deliver everything due now and return. A failing round (the database unreachable) is
    logged and tried again, except with `once`, where it is raised. `housekeeping` (other
    upkeep the worker is the home of) runs first and then every `housekeeping_every` seconds;
    its failure is logged, never stops delivery. `jobs` (the mailings' fan-out) runs every
    round before delivery and returns how much it did; the worker does not rest while it
    does something."""
    stop = stop or threading.Event()
    kept_house = float("-inf")
    while not stop.is_set():
        if housekeeping is not None and time.monotonic() - kept_house >= housekeeping_every:
            kept_house = time.monotonic()
            try:
                housekeeping()
            except Exception:
                log.exception("worker: housekeeping failed; trying again later")
        worked = 0
        if jobs is not None:
            try:
                worked = jobs(stop)
            except Exception:
                if once:
                    raise
                log.exception("worker: mailings failed; trying again in %s s", interval)
        try:
            sent, failed = deliver_due(sessions, transport, mail_from, now=now, limit=batch, stop=stop)
        except Exception:
            if once:
                raise
            log.exception("worker: delivery failed; trying again in %s s", interval)
            sent = failed = 0
        if sent or failed:
            log.info("worker: %d sent, %d failed", sent, failed)
        if sent + failed + worked == 0:
            if once:
                return
            stop.wait(interval)


class BackgroundDelivery:
    """Delivers the outbox from inside the web process every few seconds: a development
    convenience for when no mail server is configured, so the messages (and their manage
    links) appear in the server's own log."""

    def __init__(
        self, sessions: sessionmaker[Session], transport: Transport, mail_from: str, *, interval: float = 2.0,
        jobs: Callable[[threading.Event], int] | None = None,
    ) -> None:
        self.jobs = jobs
        self.sessions = sessions
        self.transport = transport
        self.mail_from = mail_from
        self.interval = interval
        self._halt = threading.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="portal-mail-delivery")

    async def stop(self) -> None:
        """Let the round in progress finish its message, then end."""
        self._halt.set()
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._halt.is_set():
            try:
                if self.jobs is not None:
                    await asyncio.to_thread(self.jobs, self._halt)
                await asyncio.to_thread(deliver_due, self.sessions, self.transport, self.mail_from, stop=self._halt)
            except Exception:
                log.exception("in-process email delivery failed; trying again in %s s", self.interval)
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass



"""Mailings: one email to many, written into the outbox by the worker in batches.

Whatever asks for a mailing (publishing an event, an organiser sending a message, the
worker finding a reminder due) writes one row in `mailings` and nothing else, so no request
and no publishing transaction waits on a fan-out. The worker takes a due mailing, locks its
row (FOR UPDATE SKIP LOCKED on PostgreSQL, so two workers take different mailings; SQLite's
one writer at a time does the same), writes the next batch of outbox rows for the recipients
after its cursor, moves the cursor, and commits: the rows and the cursor commit together, so
a worker killed between batches leaves a cursor that says exactly who has their email
already, and whoever takes the mailing next starts after them. Nobody gets the same mailing
twice; what the outbox then does (at least once, see outbox.py) is the same for every email.

Each mailing's key names what it is (announce:12, reannounce:12, digest:2027-01-04,
message:7, reminder:12:P2D, followup:12) and is unique, so asking twice, or from two
workers, makes one mailing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from portal.db import transaction, utcnow
from portal.mail.audiences import UNPUBLISHED, Batch, ListOptions, next_batch
from portal.models import Event, EventStatus, Mailing, MailingKind, OutboxMessage
from portal.site import Site

log = logging.getLogger("portal.mail")

# Recipients written to the outbox per transaction: a few hundred rows are a few
# milliseconds of the write lock, short enough for registrations to go between batches.
FAN_OUT_BATCH = 500


def reminder_key(event_id: int, offset: str, starts_at: datetime | None = None) -> str:
    """The key of one reminder of an event (its offset as stored, normalised: P2D, PT2H); for
    a reminder sent again after the event was postponed, also the new start."""
    key = f"reminder:{event_id}:{offset}"
    return f"{key}:{starts_at:%Y%m%dT%H%M%SZ}" if starts_at is not None else key


def followup_key(event_id: int) -> str:
    """The key of an event's follow-up: once its mailing exists, the follow-up is going out."""
    return f"followup:{event_id}"


def schedule(
    session: Session,
    kind: MailingKind,
    key: str,
    *,
    event_id: int | None = None,
    message_id: int | None = None,
    due_at: datetime | None = None,
    now: datetime | None = None,
) -> Mailing | None:
    """Ask for a mailing under `key`; None when one with that key exists already (it is
    never made twice, whoever asks and however often)."""
    if session.scalar(select(Mailing.id).where(Mailing.key == key)) is not None:
        return None
    now = now or utcnow()
    mailing = Mailing(key=key, kind=kind, event_id=event_id, message_id=message_id, due_at=due_at or now, created_at=now)
    try:
        with session.begin_nested():
            session.add(mailing)
            session.flush()
    except IntegrityError:  # another transaction made it between the look and the write
        return None
    return mailing


def announce_event(session: Session, event: Event, *, again: bool = False, now: datetime | None = None) -> Mailing | None:
    """Announce a published event to its subscribers: once when it is first published, and
    (`again`) once more at an organiser's request after it changed. None when that
    announcement was made already, or the event is not published or has ended."""
    now = now or utcnow()
    if event.status != EventStatus.PUBLISHED or event.ends_at <= now:
        return None
    key = f"{'reannounce' if again else 'announce'}:{event.id}"
    stopped = session.scalars(select(Mailing).where(Mailing.key == key, Mailing.note == UNPUBLISHED).with_for_update()).first()
    if stopped is not None:
        # Unpublished before its fan-out ended, now published again: it goes on from its
        # cursor, so those who had it already do not get it twice.
        stopped.finished_at = None
        stopped.note = ""
        stopped.due_at = now
        return stopped
    return schedule(session, MailingKind.ANNOUNCE, key, event_id=event.id, now=now)


def can_announce_again(session: Session, event: Event, *, now: datetime | None = None) -> bool:
    """Whether an organiser may re-announce the event: it is published and not over, it was
    announced, and it has not been re-announced yet."""
    now = now or utcnow()
    if event.status != EventStatus.PUBLISHED or event.ends_at <= now:
        return False
    keys = set(session.scalars(select(Mailing.key).where(Mailing.key.in_([f"announce:{event.id}", f"reannounce:{event.id}"]))))
    return keys == {f"announce:{event.id}"}


def _take_due(session: Session, now: datetime, *, lock: bool) -> Mailing | None:
    """The oldest due mailing not finished; with `lock`, locked for this transaction, and on
    PostgreSQL one that another worker holds is skipped."""
    query = select(Mailing).where(Mailing.finished_at.is_(None), Mailing.due_at <= now).order_by(Mailing.due_at, Mailing.id).limit(1)
    return session.scalars(query.with_for_update(skip_locked=True) if lock else query).first()


@dataclass(frozen=True)
class Prepared:
    """A batch rendered from one mailing as it stood at `cursor`."""

    mailing_id: int
    cursor: int
    batch: Batch


def prepare_batch(session: Session, site: Site, options: ListOptions, *, now: datetime, limit: int, lock: bool = False) -> Prepared | None:
    """The next batch of the oldest due mailing, rendered; None when nothing is due."""
    mailing = _take_due(session, now, lock=lock)
    if mailing is None:
        return None
    return Prepared(mailing.id, mailing.cursor, next_batch(session, site, options, mailing, now=now, limit=limit))


def commit_batch(session: Session, prepared: Prepared, *, now: datetime) -> int | None:
    """Write a prepared batch into the outbox and move its mailing's cursor, if the mailing
    still stands where it was read (locked now); None if another worker moved it first, and
    the batch is dropped: nobody is written twice."""
    mailing = session.scalars(select(Mailing).where(Mailing.id == prepared.mailing_id).with_for_update()).first()
    if mailing is None or mailing.finished_at is not None or mailing.cursor != prepared.cursor:
        return None
    batch = prepared.batch
    if batch.rows:
        session.execute(insert(OutboxMessage), batch.rows)
    mailing.cursor = batch.cursor
    mailing.queued += len(batch.rows)
    if batch.done:
        mailing.finished_at = now
        mailing.note = batch.note
        log.info("mailing %s (%s) done: %d queued%s", mailing.id, mailing.key, mailing.queued, f"; {batch.note}" if batch.note else "")
    session.flush()
    return len(batch.rows)


def fan_out_batch(session: Session, site: Site, options: ListOptions, *, now: datetime | None = None, limit: int = FAN_OUT_BATCH) -> int | None:
    """Write the next batch of one due mailing into the outbox and move its cursor, all in
    the caller's transaction. Returns how many emails it queued, or None when nothing was due."""
    now = now or utcnow()
    prepared = prepare_batch(session, site, options, now=now, limit=limit, lock=True)
    return None if prepared is None else commit_batch(session, prepared, now=now) or 0


def fan_out_due(
    sessions: sessionmaker[Session], site: Site, options: ListOptions, *, now: Callable[[], datetime] = utcnow,
    limit: int = FAN_OUT_BATCH, rounds: int = 20, stop: threading.Event | None = None,
) -> int:
    """Fan out up to `rounds` batches. Each is read and rendered in a read transaction, then
    written in a short writing one that checks the mailing has not moved meanwhile: the
    write lock (SQLite's one lock, held by every registration) is held for the inserts alone,
    never for rendering hundreds of emails, so the public pages' writes slip in between.
    Returns how many batches did something."""
    done = 0
    for _ in range(rounds):
        if stop is not None and stop.is_set():
            break
        with transaction(sessions, write=False) as session:
            prepared = prepare_batch(session, site, options, now=now(), limit=limit)
        if prepared is None:
            break
        with transaction(sessions, write=True) as session:
            commit_batch(session, prepared, now=now())
        # A batch another worker wrote first counts too: the mailing moved on.
        done += 1
    return done

"""Retention: how long an event's registrations are kept, and the run that anonymises them
once that time is over (portal.registrations.anonymise removes the data).

The rule: a registration is kept for its programme's period (Programme.retention; the
setting PORTAL_RETENTION for a programme that says nothing and for an event without one)
after its event ends, counted by calendar days in the EVENT'S zone. Through the whole local
day `period.after(last day of the event)` it is kept; from the local midnight after that it
is due. The run takes due registrations a batch at a time, each batch one transaction, so an
interrupted run resumes where it stopped (anonymised_at marks what is done) and a second run
finds nothing. The audit log gets one entry per event per run with the count and the period,
never a person's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from portal import audit
from portal.audit import Actor
from portal.calendars.ical import all_day_dates, zone
from portal.db import run_unit_of_work, utcnow
from portal.errors import InvalidTransition
from portal.models import AuditActor, AuditEntry, Event, Programme, Registration, find_event
from portal.questions.store import definition_for_event
from portal.registrations.anonymise import anonymise_all
from portal.registrations.uploads import discard
from portal.text import Period, parse_period

BATCH = 200
ACTION = "retention.anonymise"


# A registration that still holds personal data: not anonymised, or kept at an erasure as a
# completed programme's record (name and attendance), which retention removes in its turn.
HOLDS_DATA = or_(Registration.anonymised_at.is_(None), Registration.kept_reason != "")


def checked_period(text: str) -> str:
    """A retention period as a programme keeps it (P24M, upper case), or ValueError saying
    what is wrong: not an ISO 8601 period, or shorter than a day."""
    period = parse_period(text)
    if period == Period():
        raise ValueError(f"{text!r} keeps nothing: a retention period is at least a day (P1D)")
    value = text.strip().upper()
    if len(value) > 20:
        raise ValueError(f"{text!r} is longer than 20 characters")
    return value


def period_of(text: str | None, default: Period) -> Period:
    """A programme's period, or `default` when it names none (or, written by hand into the
    database, one that does not read: the setting then applies rather than an error)."""
    if not text:
        return default
    try:
        return parse_period(text)
    except ValueError:
        return default


def last_day(event: Event) -> date:
    """The event's last day in its own zone (an end at local midnight belongs to the day
    before, as for an all-day event's exclusive end)."""
    return all_day_dates(event)[1] - timedelta(days=1)


@dataclass(frozen=True)
class Retention:
    """An event's retention: its period, the last local day its registrations are kept, and
    the instant (UTC) they become due."""

    period: Period
    kept_until: date
    zone: str

    @property
    def due_at(self) -> datetime:
        midnight = datetime.combine(self.kept_until + timedelta(days=1), time(0), ZoneInfo(self.zone))
        return midnight.astimezone(UTC)

    def is_due(self, now: datetime) -> bool:
        return now >= self.due_at


def retention_of(event: Event, programme: Programme | str | None, default: Period) -> Retention:
    """The event's retention, from its programme (or the programme's retention text)."""
    text = programme.retention if isinstance(programme, Programme) else programme
    period = period_of(text, default)
    return Retention(period, period.after(last_day(event)), zone(event.timezone).key)


@dataclass(frozen=True)
class DueEvent:
    event_id: int
    slug: str
    title: str
    retention: Retention
    count: int  # registrations not yet anonymised


def _due_events(session: Session, now: datetime, default: Period) -> list[tuple[Event, Retention]]:
    """Events past their retention with a registration not yet anonymised: one query over the
    events that have ended and hold such a registration; the rule applied to each here."""
    holds_data = select(Registration.id).where(Registration.event_id == Event.id, HOLDS_DATA).exists()
    rows = session.execute(
        select(Event, Programme.retention)
        .outerjoin(Programme, Event.programme_id == Programme.id)
        .where(Event.ends_at < now, holds_data)
        .order_by(Event.ends_at, Event.id)
    ).all()
    due = []
    for event, text in rows:
        retention = retention_of(event, text, default)
        if retention.is_due(now):
            due.append((event, retention))
    return due


def _counts(session: Session, event_ids: list[int]) -> dict[int, int]:
    if not event_ids:
        return {}
    rows = session.execute(
        select(Registration.event_id, func.count())
        .where(Registration.event_id.in_(event_ids), HOLDS_DATA)
        .group_by(Registration.event_id)
    ).all()
    return {event_id: count for event_id, count in rows}


def due_counts(session: Session, now: datetime | None, default_period: Period) -> list[DueEvent]:
    """Per event past its retention, how many registrations a run would anonymise (the dry run)."""
    now = now or utcnow()
    due = _due_events(session, now, default_period)
    counts = _counts(session, [event.id for event, _ in due])
    return [DueEvent(e.id, e.slug, e.title, r, counts[e.id]) for e, r in due if counts.get(e.id)]


@dataclass(frozen=True)
class Run:
    """What a run has done, across its committed batches: per event slug, how many were
    anonymised, and the audit entry of each event that the run's later batches add to."""

    counts: dict[str, int] = field(default_factory=dict)
    entries: dict[int, int] = field(default_factory=dict)  # event id -> audit entry id

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Batch:
    anonymised: int
    stored_files: tuple[str, ...]  # to delete (uploads.discard) once the batch has committed
    more: bool  # a full batch: there may be more to do
    run: Run  # the run as it stands once this batch has committed


def run_batch(
    session: Session, run: Run, now: datetime | None, default_period: Period, *, limit: int = BATCH, by: AuditActor = AuditActor.PORTAL,
) -> Batch:
    """Anonymise up to `limit` registrations past their retention, in the caller's transaction.
    Rows are read under a lock (skipping those another run holds, on PostgreSQL), and only
    those not yet anonymised: resumable and idempotent. `run` (the previous batch's, or a new
    Run) carries the audit entries over, so that an event has one entry per run; it is not
    changed, so a batch rolled back leaves it as it was."""
    now = now or utcnow()
    run = Run(dict(run.counts), dict(run.entries))
    due = {event.id: (event, retention) for event, retention in _due_events(session, now, default_period)}
    if not due:
        return Batch(0, (), False, run)
    registrations = session.scalars(
        select(Registration)
        .where(Registration.event_id.in_(list(due)), HOLDS_DATA)
        .order_by(Registration.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    definitions = {}
    done: dict[int, int] = {}
    for registration in registrations:
        event, _ = due[registration.event_id]
        if event.id not in definitions:
            definitions[event.id] = definition_for_event(session, event)
        done[event.id] = done.get(event.id, 0) + 1
    files = anonymise_all(session, [(r, definitions[r.event_id]) for r in registrations], now=now)
    for event_id, count in done.items():
        event, retention = due[event_id]
        run.counts[event.slug] = run.counts.get(event.slug, 0) + count
        _audit(session, run, event_id, run.counts[event.slug], retention.period, now=now, by=by)
    session.flush()
    return Batch(len(registrations), tuple(files), len(registrations) >= limit, run)


def _audit(session: Session, run: Run, event_id: int, count: int, period: Period, *, now: datetime, by: AuditActor) -> None:
    after = {"count": count, "period": period.iso()}
    entry = session.get(AuditEntry, run.entries[event_id]) if event_id in run.entries else None
    if entry is None:
        entry = audit.record(session, None, ACTION, event_id=event_id, after=after, now=now, by=by)
        session.flush()
        run.entries[event_id] = entry.id
    else:
        entry.after = after


def run_retention(
    sessions: sessionmaker[Session], default_period: Period, directory: Path, *, now: datetime | None = None,
    limit: int = BATCH, by: AuditActor = AuditActor.PORTAL,
) -> Run:
    """Anonymise everything past its retention, a batch (one transaction) at a time, deleting
    each batch's uploaded files once it has committed."""
    run = Run()
    while True:
        batch = run_unit_of_work(sessions, run_batch, run, now, default_period, limit=limit, by=by)
        discard(directory, batch.stored_files)
        run = batch.run
        if not batch.more:
            return run


# An organiser's early anonymisation of one event.


@dataclass(frozen=True)
class EventAnonymisation:
    """What anonymising an event's registrations now would do, for the page that asks first."""

    event: Event
    retention: Retention
    count: int  # registrations not yet anonymised
    anonymised: int  # anonymised already
    ended: bool
    early: bool  # before the retention period is over


NOT_ENDED = "This event has not ended yet: its registrations can be anonymised once it is over."


def event_anonymisation(session: Session, slug: str, default_period: Period, *, now: datetime | None = None) -> EventAnonymisation:
    """The dry run of anonymising one event's registrations now."""
    now = now or utcnow()
    event, programme = find_event(session, slug)
    counts = dict(session.execute(
        select(HOLDS_DATA, func.count()).where(Registration.event_id == event.id).group_by(HOLDS_DATA)
    ).all())
    retention = retention_of(event, programme, default_period)
    return EventAnonymisation(
        event, retention, counts.get(True, 0), counts.get(False, 0), ended=event.ends_at <= now, early=not retention.is_due(now)
    )


@dataclass(frozen=True)
class EventAnonymised:
    count: int
    stored_files: tuple[str, ...]  # to delete once committed


def anonymise_event(session: Session, actor: Actor | None, slug: str, *, now: datetime | None = None) -> EventAnonymised:
    """Anonymise every registration of an event that has ended, now, whatever its retention
    (InvalidTransition for an event not yet over); audited as "event.anonymise" with the count."""
    now = now or utcnow()
    event, _ = find_event(session, slug, lock=True)
    if event.ends_at > now:
        raise InvalidTransition(NOT_ENDED)
    definition = definition_for_event(session, event)
    registrations = session.scalars(
        select(Registration).where(Registration.event_id == event.id, HOLDS_DATA).order_by(Registration.id).with_for_update()
    ).all()
    files = anonymise_all(session, [(r, definition) for r in registrations], now=now)
    if registrations:
        audit.record(session, actor, "event.anonymise", event_id=event.id, after={"count": len(registrations)}, now=now)
    session.flush()
    return EventAnonymised(len(registrations), tuple(files))

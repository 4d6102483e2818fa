"""Admission at the door, per day: which days an event has, which day a moment belongs to,
recording a check-in (by a scan, a typed code or a tap), and who attended which days.

An event's days are the dates it covers in its own zone, from its start to its end. A
check-in counts for the day it happened on there; one made before the first day (the door
opens early) counts for the first, one after the last for the last. Each check-in is a row
(models.CheckIn); a registration's checked_in_at is its first, kept for what already reads
it (the roster's sort, exports, messages' audience).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from math import ceil
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.models import CheckIn, Event, Registration

# More days than this is not a course but a season: attendance is then kept per day only
# for the first MAX_DAYS (a guard for an event created with a wrong end).
MAX_DAYS = 31


def event_days(event: Event) -> list[date]:
    """The dates the event covers, in its own zone, first to last (at most MAX_DAYS)."""
    zone = ZoneInfo(event.timezone)
    first = event.starts_at.astimezone(zone).date()
    # An end at midnight belongs to the day before (an all-day event's end is exclusive).
    last = (event.ends_at - timedelta(microseconds=1)).astimezone(zone).date()
    days = (last - first).days + 1
    return [first + timedelta(days=n) for n in range(max(1, min(days, MAX_DAYS)))]


def local_day(event: Event, at: datetime) -> date:
    """The date `at` falls on in the event's zone."""
    return at.astimezone(ZoneInfo(event.timezone)).date()


def day_of(event: Event, at: datetime) -> date:
    """The event day a check-in at `at` counts for."""
    days = event_days(event)
    return min(max(local_day(event, at), days[0]), days[-1])


@dataclass(frozen=True)
class Admission:
    """What recording a check-in did: the row, whether it is new, and whether the person was
    already admitted that day (by an earlier row: the first admission)."""

    check_in: CheckIn
    new: bool
    first_that_day: CheckIn


def admit(
    session: Session,
    event: Event,
    registration: Registration,
    *,
    at: datetime,
    scan_id: str | None = None,
    door: str = "",
    organiser_id: int | None = None,
) -> Admission:
    """Record that `registration` came in at `at`. A scan id seen before returns that scan's
    row and records nothing (a sync sent twice). Keeps the registration's checked_in_at the
    earliest check-in. The caller checks that the registration may be admitted (confirmed,
    this event's)."""
    day = day_of(event, at)
    if scan_id is not None:
        seen = session.scalar(select(CheckIn).where(CheckIn.scan_id == scan_id))
        if seen is not None:
            return Admission(seen, False, first_of_day(session, registration.id, seen.day) or seen)
    row = CheckIn(event_id=event.id, registration_id=registration.id, day=day, at=at, scan_id=scan_id, door=door[:100], organiser_id=organiser_id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same scan id, sent at the same moment by another request
        seen = session.scalars(select(CheckIn).where(CheckIn.scan_id == scan_id)).one()
        return Admission(seen, False, first_of_day(session, registration.id, seen.day) or seen)
    if registration.checked_in_at is None or at < registration.checked_in_at:
        registration.checked_in_at = at
    first = first_of_day(session, registration.id, day)
    return Admission(row, True, first or row)


def first_of_day(session: Session, registration_id: int, day: date) -> CheckIn | None:
    """A registration's first check-in of one day: the check-in; any later one is again."""
    return session.scalars(
        select(CheckIn).where(CheckIn.registration_id == registration_id, CheckIn.day == day).order_by(CheckIn.at, CheckIn.id).limit(1)
    ).first()


def undo_day(session: Session, registration: Registration, day: date) -> int:
    """Remove a registration's check-ins of one day (a tap made by mistake); returns how
    many went, and keeps checked_in_at the earliest left."""
    rows = list(session.scalars(select(CheckIn).where(CheckIn.registration_id == registration.id, CheckIn.day == day)))
    for row in rows:
        session.delete(row)
    session.flush()
    registration.checked_in_at = session.scalar(
        select(CheckIn.at).where(CheckIn.registration_id == registration.id).order_by(CheckIn.at).limit(1)
    )
    return len(rows)


def days_attended(session: Session, registration_ids: Iterable[int]) -> dict[int, set[date]]:
    """The days each registration was checked in on."""
    ids = list(registration_ids)
    attended: dict[int, set[date]] = {i: set() for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for registration_id, day in session.execute(
            select(CheckIn.registration_id, CheckIn.day).where(CheckIn.registration_id.in_(chunk)).distinct()
        ):
            attended[registration_id].add(day)
    return attended


def days_needed(event: Event) -> int:
    """How many of the event's days earn a certificate, by its rule: {"days": n}, {"share":
    0.8} (of its days, rounded up), or all of them."""
    total = len(event_days(event))
    rule = event.certificate_rule or {}
    if "days" in rule:
        return max(1, min(int(rule["days"]), total))
    if "share" in rule:
        return max(1, min(total, ceil(float(rule["share"]) * total - 1e-9)))
    return total


def meets_rule(event: Event, attended: set[date]) -> bool:
    """Whether attending these days earns the event's certificate."""
    return len(attended & set(event_days(event))) >= days_needed(event)

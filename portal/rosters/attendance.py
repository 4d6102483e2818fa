"""An event's attendance for its page in the back office: for each of its days how many were
checked in, and who meets its certificate rule now (checkins.meets_rule, counted by the
database: the confirmed registrations with check-ins on at least checkins.days_needed of the
event's days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from portal.models import CheckIn, Event, Registration, RegistrationStatus
from portal.registrations.attendance import first_check_ins, rule_words, short_dates
from portal.registrations.checkins import days_needed, event_days
from portal.rosters.numbers import NumbersCache


@dataclass(frozen=True)
class Attendance:
    # Each of the event's days with how many were checked in on it.
    days: list[tuple[date, int]]
    # Who earns a certificate, in words; how many days that takes; how many confirmed
    # registrations meet it now.
    rule: str
    needed: int
    meeting: int

    @property
    def several_days(self) -> bool:
        return len(self.days) > 1


def _count(session: Session, event: Event) -> Attendance:
    days = event_days(event)
    per_day: dict[date, int] = {
        day: n for day, n in session.execute(
            select(CheckIn.day, func.count(distinct(CheckIn.registration_id)))
            .where(CheckIn.event_id == event.id, CheckIn.day.between(days[0], days[-1]))
            .group_by(CheckIn.day)
        )
    }
    needed = days_needed(event)
    enough = (
        select(CheckIn.registration_id)
        .join(Registration, Registration.id == CheckIn.registration_id)
        .where(
            CheckIn.event_id == event.id, CheckIn.day.between(days[0], days[-1]),
            Registration.status == RegistrationStatus.CONFIRMED,
        )
        .group_by(CheckIn.registration_id)
        .having(func.count(distinct(CheckIn.day)) >= needed)
        .subquery()
    )
    meeting = session.scalar(select(func.count()).select_from(enough)) or 0
    return Attendance([(d, per_day.get(d, 0)) for d in days], rule_words(event), needed, meeting)


def event_attendance(session: Session, event: Event, cache: NumbersCache | None = None) -> Attendance:
    """The event's attendance per day and against its certificate rule; kept in `cache` until
    its registrations or check-ins change (a check-in raises the event's seats_version) or the
    event is edited."""
    if cache is None:
        return _count(session, event)
    return cache.other(session, event, ("attendance",), lambda: _count(session, event))


@dataclass(frozen=True)
class Came:
    """The days one registration came, each with its first check-in (UTC)."""

    days: dict[date, datetime]

    @property
    def dates(self) -> str:
        """The days in few words: '8, 9, 11 Mar 2027'."""
        return short_dates(self.days)


def attended_days(session: Session, event: Event, rows: list[Registration]) -> dict[int, Came]:
    """The days each of `rows` came, for an event of several days (nothing for one of one day,
    whose roster shows the check-in time)."""
    if len(event_days(event)) < 2:
        return {}
    return {i: Came(days) for i, days in first_check_ins(session, event, rows).items()}

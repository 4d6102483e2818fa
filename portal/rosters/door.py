"""The door: confirmed registrations found by name, with the counts the door shows. An event
of several days is checked in per day: the door shows the day that is on now (the first
before the event, the last after it), who is in that day and who came on other days."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import Event, Registration, RegistrationStatus, event_by_slug
from portal.registrations.attendance import checked_in_on, day_words, first_check_ins
from portal.registrations.checkins import day_of, event_days
from portal.registrations.seats import confirmed_count
from portal.rosters.search import matches, matching_ids

S = RegistrationStatus


@dataclass(frozen=True)
class CheckIn:
    event: Event
    people: list[Registration]
    more: bool
    confirmed: int
    # Checked in on `day` (the whole event's count, for an event of one day).
    checked_in: int
    # The event's days, and the one check-ins count for now.
    days: list[date] = field(default_factory=list)
    day: date | None = None
    # Of the people shown: the first check-in on `day`, and the other days they came.
    today: dict[int, datetime] = field(default_factory=dict)
    earlier: dict[int, list[date]] = field(default_factory=dict)
    # 'today', or 'on Mon 8 Mar' when the event's day is not today.
    when: str = "today"

    @property
    def day_number(self) -> int:
        return self.days.index(self.day) + 1 if self.day in self.days else 0


def check_in_list(
    session: Session, slug: str, q: str = "", *, limit: int = 30, now: datetime | None = None, search_email: bool = True,
) -> CheckIn:
    """Confirmed registrations matching a search, by name, for the door, with who is checked
    in on the event's day that `now` falls on. Without `search_email` (a door volunteer) the
    search reads names and organisations only."""
    now = now or utcnow()
    event = event_by_slug(session, slug)
    conditions: list[ColumnElement[bool]] = [Registration.event_id == event.id, Registration.status == S.CONFIRMED]
    if q:
        conditions.append(matches(session, q, email=search_email))
        ids = matching_ids(session, event.id, [S.CONFIRMED], q, email=search_email)
        if ids is not None:
            conditions = [Registration.id.in_(ids)]
    people = list(
        session.scalars(select(Registration).where(*conditions).order_by(Registration.name, Registration.id).limit(limit + 1))
    )
    # Counted afresh, not from a NumbersCache: at the door every check-in changes the data,
    # and these two counts cost a third of the chart and counts the roster page keeps.
    confirmed = confirmed_count(session, event.id)
    days, day = event_days(event), day_of(event, now)
    if len(days) > 1:
        checked_in = checked_in_on(session, event.id, day)
    else:
        checked_in = session.scalar(
            select(func.count()).select_from(Registration).where(
                Registration.event_id == event.id, Registration.checked_in_at.is_not(None)
            )
        ) or 0
    more, people = len(people) > limit, people[:limit]
    came = first_check_ins(session, event, people)
    return CheckIn(
        event, people, more, confirmed, checked_in, days, day,
        today={i: at[day] for i, at in came.items() if day in at},
        earlier={i: sorted(d for d in at if d != day) for i, at in came.items() if set(at) - {day}},
        when=day_words(day, now.astimezone(ZoneInfo(event.timezone)).date()),
    )

"""What the door's scanner holds to work offline (an event's tickets: only what the door shows),
and the check-ins a registration has, door by door, for its page in the back office."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import CheckIn, Event, EventStatus, Organiser, Registration, event_by_slug
from portal.registrations import checkins
from portal.registrations.scans import TAP


@dataclass(frozen=True)
class DayIn:
    """A registration's first check-in of one day."""

    at: datetime
    door: str


@dataclass(frozen=True)
class DoorTicket:
    code: str
    name: str
    organisation: str
    status: str
    days: dict[date, DayIn]


@dataclass(frozen=True)
class DoorTickets:
    event: Event
    days: list[date]
    cancelled: bool
    tickets: list[DoorTicket]


def door_tickets(session: Session, slug: str) -> DoorTickets:
    """Every ticket of the event (each registration given a check-in code, whatever its status
    now, so that the door can say why it refuses one), with the days each was checked in."""
    event = event_by_slug(session, slug)
    rows = session.execute(
        select(Registration.id, Registration.checkin_code, Registration.name, Registration.organisation,
               Registration.status, Registration.checked_in_at)
        .where(Registration.event_id == event.id, Registration.checkin_code.is_not(None))
        .order_by(Registration.id)
    ).all()
    firsts: dict[int, dict[date, DayIn]] = {}
    for registration_id, day, at, door in session.execute(
        select(CheckIn.registration_id, CheckIn.day, CheckIn.at, CheckIn.door)
        .where(CheckIn.event_id == event.id)
        .order_by(CheckIn.at.desc(), CheckIn.id.desc())
    ):
        # Newest first, so the earliest of each day is the one left.
        firsts.setdefault(registration_id, {})[day] = DayIn(at, door or TAP)
    tickets = []
    for registration_id, code, name, organisation, status, checked_in_at in rows:
        days = firsts.get(registration_id, {})
        if not days and checked_in_at is not None:  # checked in before check-ins were kept per day
            days = {checkins.day_of(event, checked_in_at): DayIn(checked_in_at, TAP)}
        tickets.append(DoorTicket(code, name, organisation, status.value, days))
    return DoorTickets(event, checkins.event_days(event), event.status == EventStatus.CANCELLED, tickets)


@dataclass(frozen=True)
class DoorEntry:
    """One check-in of a registration: the day it counts for, when, at which door, by whom,
    and whether it was that day's first (the one that counts)."""

    day: date
    at: datetime
    door: str
    by: str
    first: bool


def check_ins_of(session: Session, registration_id: int) -> list[DoorEntry]:
    """A registration's check-ins, by day and time."""
    rows = session.execute(
        select(CheckIn.day, CheckIn.at, CheckIn.door, Organiser.name, Organiser.email)
        .outerjoin(Organiser, Organiser.id == CheckIn.organiser_id)
        .where(CheckIn.registration_id == registration_id)
        .order_by(CheckIn.day, CheckIn.at, CheckIn.id)
    ).all()
    entries: list[DoorEntry] = []
    for day, at, door, name, email in rows:
        first = not entries or entries[-1].day != day
        entries.append(DoorEntry(day, at, door or TAP, name or email or "", first))
    return entries

"""A conference's sessions that participants choose (workshops with limited places): what the
register and manage pages offer, and changing one's choices until registration closes. The
places themselves are held by the seats module, under the event's lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.models import ACTIVE_STATUSES, AuditActor, Event, EventSession, EventStatus, Registration, SessionChoice
from portal.registrations.participants import find_by_token
from portal.registrations.seats import (
    choosable_sessions,
    fill_session_places,
    hold_sessions,
    lock_event_of,
    plan_sessions,
    session_places_left,
    session_places_taken,
    session_waiting_counts,
)
from portal.site import Site


@dataclass(frozen=True)
class SessionOption:
    """A session to choose, as a form shows it: its places and this registration's choice."""

    session: EventSession
    taken: int
    waiting_count: int
    chosen: bool = False
    waiting: bool = False  # this registration waits for a place in it

    @property
    def left(self) -> int | None:
        return session_places_left(self.session, self.taken)

    @property
    def full(self) -> bool:
        return self.left == 0

    @property
    def closed(self) -> bool:
        """Whether a participant who has not chosen it cannot choose it now."""
        return self.session.cancelled or (self.full and not self.session.waitlist)


def session_options(session: Session, event_id: int, registration_id: int | None = None) -> list[SessionOption]:
    """The event's sessions to choose, in time order, with places held and (for a
    registration) what it chose. Empty for an event without them."""
    sessions = choosable_sessions(session, event_id)
    if not sessions:
        return []
    taken = session_places_taken(session, event_id)
    waiting = session_waiting_counts(session, event_id)
    mine: dict[int, bool] = {}
    if registration_id is not None:
        mine = dict(session.execute(
            select(SessionChoice.session_id, SessionChoice.waiting).where(SessionChoice.registration_id == registration_id)
        ).all())
    return [
        SessionOption(s, taken.get(s.id, 0), waiting.get(s.id, 0), chosen=s.id in mine, waiting=mine.get(s.id, False))
        for s in sessions
    ]


def can_change_sessions(event: Event, registration: Registration, now: datetime) -> str | None:
    """None if the registration's sessions may change now, else why not (in words)."""
    if registration.status not in ACTIVE_STATUSES:
        return "This registration is no longer active, so its sessions cannot change."
    if event.status == EventStatus.CANCELLED:
        return "The organisers have cancelled this event, so your registration ended with it."
    closes = event.registration_closes_at or event.starts_at
    if now >= closes or now >= event.starts_at:
        return "Registration for this event has closed, so your sessions can no longer change; contact the organisers."
    return None


@dataclass(frozen=True)
class SessionsChanged:
    added: list[EventSession]
    dropped: list[EventSession]
    waiting: list[EventSession]  # of those added, the ones it waits for


def change_sessions(session: Session, site: Site, token: str, keys: list[str], *, now: datetime | None = None) -> SessionsChanged:
    """The participant chooses their sessions anew: a new choice takes a place (or a turn on
    its waiting list), a dropped one frees its place for the next in line. Until the event's
    registration closes."""
    registration = find_by_token(session, token)
    event = lock_event_of(session, registration)
    now = now or utcnow()  # read under the lock: a waiting list's order is the lock's order
    why_not = can_change_sessions(event, registration, now)
    if why_not:
        raise InvalidTransition(why_not)
    own = dict(session.execute(
        select(SessionChoice.session_id, SessionChoice.waiting).where(SessionChoice.registration_id == registration.id)
    ).all())
    plan = plan_sessions(session, event.id, keys, own=own)
    added, dropped = hold_sessions(session, registration, plan, now=now)
    waiting_ids = {s.id for s in plan.waiting}
    if added or dropped:
        audit.record(
            session, None, "registration.sessions", event_id=event.id, registration_id=registration.id,
            before={"sessions": sorted(s.key for s in dropped)}, after={"sessions": sorted(s.key for s in added)},
            now=now, by=AuditActor.PARTICIPANT,
        )
    if dropped:
        fill_session_places(session, site, event, now=now)
    return SessionsChanged(added, dropped, [s for s in added if s.id in waiting_ids])


def chosen_sessions(session: Session, registration_id: int) -> list[tuple[EventSession, bool]]:
    """The sessions a registration chose, in time order, each with whether it waits."""
    rows = session.execute(
        select(EventSession, SessionChoice.waiting).join(SessionChoice, SessionChoice.session_id == EventSession.id)
        .where(SessionChoice.registration_id == registration_id).order_by(EventSession.starts_at, EventSession.id)
    ).all()
    return [(s, waiting) for s, waiting in rows]

"""The roster of one session of a conference: who chose it (holding a place, and its waiting
list in order), its counts, its CSV export, and check-in at its door where the session wants
it (SessionCheckIn rows, each audited). A session people do not choose but that checks people
in (a keynote) lists the event's confirmed registrations instead.

Counts of places come from the seats module, the one place that says what holds one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, null, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import Actor, record
from portal.db import utcnow
from portal.errors import InvalidTransition, NotFound
from portal.models import (
    ACTIVE_STATUSES,
    Event,
    EventSession,
    Registration,
    RegistrationStatus,
    SessionCheckIn,
    SessionChoice,
    SessionSpeaker,
    Speaker,
    event_by_slug,
)
from portal.paging import Paged, clamp_page, offset
from portal.registrations.seats import session_places_left, session_places_taken, session_waiting_counts
from portal.rosters.exports import neutralise
from portal.rosters.search import matches

PER_PAGE = 100
# The waiting list is shown whole, up to this many.
MAX_WAITING = 1000


@dataclass(frozen=True)
class Person:
    """Someone on a session's roster."""

    id: int
    name: str
    email: str
    organisation: str
    status: RegistrationStatus
    chosen_at: datetime | None = None
    waiting_since: datetime | None = None
    checked_in_at: datetime | None = None

    @property
    def may_check_in(self) -> bool:
        return self.status == RegistrationStatus.CONFIRMED and self.waiting_since is None


@dataclass(frozen=True)
class SessionRoster(Paged):
    event: Event
    session: EventSession
    speakers: list[str]
    # "choosers": people choose it; "confirmed": the event's confirmed registrations (a
    # session that checks in but is not chosen); "none": nobody to list.
    mode: str
    people: list[Person]  # a page of those holding a place (or of the confirmed)
    waiting: list[Person]  # its waiting list, in order
    holding: int
    waiting_count: int
    checked_in: int
    q: str | None
    page: int
    per_page: int
    total: int

    @property
    def places_left(self) -> int | None:
        return session_places_left(self.session, self.holding)


def _session(session: Session, slug: str, key: str) -> tuple[Event, EventSession]:
    event = event_by_slug(session, slug)
    found = session.scalar(select(EventSession).where(EventSession.event_id == event.id, EventSession.key == key))
    if found is None:
        raise NotFound(f"{event.title} has no session “{key}”: it may have been deleted.")
    return event, found


def mode_of(target: EventSession) -> str:
    return "choosers" if target.choose else "confirmed" if target.check_in else "none"


_COLUMNS = (Registration.id, Registration.name, Registration.email, Registration.organisation, Registration.status)


def _check_ins(session: Session, session_id: int, ids: list[int]) -> dict[int, datetime]:
    if not ids:
        return {}
    return dict(session.execute(
        select(SessionCheckIn.registration_id, SessionCheckIn.at)
        .where(SessionCheckIn.session_id == session_id, SessionCheckIn.registration_id.in_(ids))
    ).all())


def _listed(session: Session, target: EventSession, *, waiting: bool) -> tuple[Any, list[ColumnElement[bool]]]:
    """The query of a session's people and its conditions: choosers (holding a place or
    waiting), or the event's confirmed registrations."""
    if mode_of(target) == "choosers":
        query = select(*_COLUMNS, SessionChoice.created_at, SessionChoice.waiting_since).join(
            SessionChoice, SessionChoice.registration_id == Registration.id
        )
        return query, [
            SessionChoice.session_id == target.id, SessionChoice.waiting.is_(waiting), Registration.status.in_(ACTIVE_STATUSES),
        ]
    query = select(*_COLUMNS, null().label("chosen_at"), null().label("waiting_since"))
    return query, [Registration.event_id == target.event_id, Registration.status == RegistrationStatus.CONFIRMED]


def _people(rows: Any, checked: dict[int, datetime]) -> list[Person]:
    return [Person(i, name, email, org, RegistrationStatus(status), chosen, since, checked.get(i)) for i, name, email, org, status, chosen, since in rows]


def session_roster(
    session: Session, slug: str, key: str, *, q: str | None = None, page: int = 1, per_page: int = PER_PAGE,
    search_email: bool = True,
) -> SessionRoster:
    """Who chose a session (a page of those holding a place, by name, and its waiting list in
    order), or the event's confirmed for a session that checks in but is not chosen. Without
    `search_email` (a door volunteer) the search reads names and organisations only."""
    event, target = _session(session, slug, key)
    speakers = list(session.scalars(
        select(Speaker.name).join(SessionSpeaker, SessionSpeaker.speaker_id == Speaker.id)
        .where(SessionSpeaker.session_id == target.id).order_by(SessionSpeaker.position)
    ))
    holding = session_places_taken(session, event.id, only=[target.id]).get(target.id, 0)
    waiting_count = session_waiting_counts(session, event.id).get(target.id, 0)
    checked_in = session.scalar(select(func.count()).select_from(SessionCheckIn).where(SessionCheckIn.session_id == target.id)) or 0
    mode = mode_of(target)
    if mode == "none":
        return SessionRoster(event, target, speakers, mode, [], [], holding, waiting_count, checked_in, q, 1, per_page, 0)
    query, conditions = _listed(session, target, waiting=False)
    if q:
        conditions.append(matches(session, q, email=search_email))
    total = session.scalar(select(func.count()).select_from(query.where(*conditions).subquery())) or 0
    page = clamp_page(page, total, per_page)
    rows = session.execute(query.where(*conditions).order_by(Registration.name, Registration.id).offset(offset(page, per_page)).limit(per_page)).all()
    people = _people(rows, _check_ins(session, target.id, [r[0] for r in rows]))
    waiting: list[Person] = []
    if mode == "choosers" and waiting_count:
        wquery, wconditions = _listed(session, target, waiting=True)
        wrows = session.execute(wquery.where(*wconditions).order_by(SessionChoice.waiting_since, SessionChoice.id).limit(MAX_WAITING)).all()
        waiting = _people(wrows, _check_ins(session, target.id, [r[0] for r in wrows]))
    return SessionRoster(event, target, speakers, mode, people, waiting, holding, waiting_count, checked_in, q, page, per_page, total)


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def export_rows(session: Session, slug: str, key: str) -> tuple[str, list[list[str]]]:
    """The session's roster as CSV cells (the file's name, then rows: the header first):
    those holding a place by name, then its waiting list in order; times in the event's
    zone, named in the header; formulas neutralised."""
    event, target = _session(session, slug, key)
    zone, tz = ZoneInfo(event.timezone), event.timezone
    mode = mode_of(target)
    header = ["Name", "Email", "Organisation", "Registration"]
    if mode == "choosers":
        header += ["Place", f"Chose ({tz})"]
    if target.check_in:
        header.append(f"Checked in ({tz})")
    rows = [header]
    if mode == "none":
        return f"session-{event.slug}-{target.key}.csv", rows
    lists = [(False, Registration.name)] + ([(True, SessionChoice.waiting_since)] if mode == "choosers" else [])
    for waiting, order in lists:
        query, conditions = _listed(session, target, waiting=waiting)
        found = session.execute(query.where(*conditions).order_by(order, Registration.id)).all()
        checked = _check_ins(session, target.id, [r[0] for r in found])
        for n, (i, name, email, org, status, chosen, _since) in enumerate(found, start=1):
            cells = [neutralise(name), neutralise(email), neutralise(org), RegistrationStatus(status).value]
            if mode == "choosers":
                cells += [f"waiting ({n})" if waiting else "holds a place", _local(chosen, zone)]
            if target.check_in:
                cells.append(_local(checked.get(i), zone))
            rows.append(cells)
    return f"session-{event.slug}-{target.key}.csv", rows


def _admissible(session: Session, target: EventSession, registration_id: int) -> Registration:
    registration = session.get(Registration, registration_id)
    if registration is None or registration.event_id != target.event_id:
        raise NotFound("There is no such registration at this event.")
    if not target.check_in:
        raise InvalidTransition(f"{target.title} does not check people in: tick its check-in box on its edit page first.")
    if target.cancelled:
        raise InvalidTransition(f"{target.title} is cancelled: nobody can be checked in at it.")
    if registration.status != RegistrationStatus.CONFIRMED:
        raise InvalidTransition(f"{registration.name} is not confirmed for the event ({registration.status.value}).")
    if target.choose:
        waiting = session.scalar(select(SessionChoice.waiting).where(
            SessionChoice.session_id == target.id, SessionChoice.registration_id == registration.id
        ))
        if waiting is None:
            raise InvalidTransition(f"{registration.name} did not choose {target.title}.")
        if waiting:
            raise InvalidTransition(f"{registration.name} is on the waiting list of {target.title}, without a place.")
    return registration


def check_in_session(session: Session, actor: Actor, slug: str, key: str, registration_id: int, *, now: datetime | None = None) -> str:
    """Admit someone at a session's door; returns their name. Refused, in words, for someone
    who may not come in or is in already."""
    now = now or utcnow()
    event, target = _session(session, slug, key)
    registration = _admissible(session, target, registration_id)
    try:
        with session.begin_nested():
            session.add(SessionCheckIn(session_id=target.id, registration_id=registration.id, event_id=event.id, at=now, organiser_id=actor.id))
            session.flush()
    except IntegrityError:  # in already (another tap, or another organiser at the same moment)
        raise InvalidTransition(f"{registration.name} is checked in at {target.title} already.") from None
    record(session, actor, "session.check_in", event_id=event.id, registration_id=registration.id, after={"session": key}, now=now)
    return registration.name


def undo_session_check_in(session: Session, actor: Actor, slug: str, key: str, registration_id: int, *, now: datetime | None = None) -> str:
    """Take back a check-in at a session's door (a tap made by mistake); returns the name."""
    now = now or utcnow()
    event, target = _session(session, slug, key)
    row = session.scalar(select(SessionCheckIn).where(SessionCheckIn.session_id == target.id, SessionCheckIn.registration_id == registration_id))
    registration = session.get(Registration, registration_id)
    if row is None or registration is None:
        raise InvalidTransition("That person is not checked in at this session: there is nothing to undo.")
    session.delete(row)
    record(session, actor, "session.undo_check_in", event_id=event.id, registration_id=registration_id,
           before={"session": key, "checked_in": row.at}, after={"session": key, "checked_in": None}, now=now)
    return registration.name


def csv_batches(rows: list[list[str]]) -> Iterator[list[list[str]]]:
    """The rows in batches, as exports.csv_chunks reads them."""
    for start in range(0, len(rows), 2000):
        yield rows[start:start + 2000]

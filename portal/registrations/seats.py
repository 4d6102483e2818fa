"""Seats and places: the only capacity module. Locking an event, counting who holds a seat
and who waits, giving freed seats to the waiting list in order, and holding the places of
choices that have them (a workshop of 20) for the registrations that picked them.

Every function that can change who holds a seat first locks the event row, so two
transactions never decide on the same seat count (SELECT ... FOR UPDATE on PostgreSQL; on
SQLite the writing transaction already holds the database's write lock from BEGIN IMMEDIATE).
The public form and the back office both call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.errors import ChoiceFull, InvalidTransition, SessionChoiceProblem
from portal.mail.messages import queue_registration_message
from portal.models import (
    ACTIVE_STATUSES,
    AuditActor,
    ChoicePick,
    Event,
    EventSession,
    EventStatus,
    Registration,
    RegistrationStatus,
    SessionChoice,
    SessionStatus,
    event_by_slug,
)
from portal.questions.schema import FormDefinition, shown
from portal.registrations.sealed import all_answers
from portal.registrations.tickets import give_code
from portal.site import Site

S = RegistrationStatus


def lock_event(session: Session, slug: str) -> Event:
    """Load an event by slug and hold it until the transaction ends."""
    return event_by_slug(session, slug, lock=True)


def lock_event_of(session: Session, registration: Registration) -> Event:
    """Hold a registration's event until the transaction ends, and read the registration
    again under that lock (what it was before the lock may have changed)."""
    event = session.scalars(select(Event).where(Event.id == registration.event_id).with_for_update()).one()
    # Its row too: an anonymisation (retention, which locks rows, not events) that committed
    # meanwhile is seen, and one under way is waited for rather than written over.
    session.refresh(registration, with_for_update=True)
    return event


def _status_count(session: Session, event_id: int, status: RegistrationStatus) -> int:
    return session.scalar(
        select(func.count()).select_from(Registration).where(Registration.event_id == event_id, Registration.status == status)
    ) or 0


def confirmed_count(session: Session, event_id: int) -> int:
    return _status_count(session, event_id, S.CONFIRMED)


def waitlisted_count(session: Session, event_id: int) -> int:
    return _status_count(session, event_id, S.WAITLISTED)


def active_count(session: Session, event_id: int) -> int:
    """Registrations still in play (pending, confirmed, waitlisted): the people an event's
    change or cancellation is emailed to."""
    return session.scalar(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == event_id, Registration.status.in_(ACTIVE_STATUSES)
        )
    ) or 0


def places_taken(session: Session, event_id: int, only: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """Places held per (question key, choice value) at one event: a place is held by every
    active registration (pending, confirmed or waitlisted) that picked the choice, and freed
    when it is cancelled or rejected. Only choices with places are recorded (choice_picks).
    With `only`, just those choices are counted: a registration reads the picks of the
    choices it asks for (at most their places, by the index), not every pick of the event."""
    query = (
        select(ChoicePick.question_key, ChoicePick.value, func.count())
        .join(Registration, Registration.id == ChoicePick.registration_id)
        .where(ChoicePick.event_id == event_id, Registration.status.in_(ACTIVE_STATUSES))
        .group_by(ChoicePick.question_key, ChoicePick.value)
    )
    if only is not None:
        query = query.where(tuple_(ChoicePick.question_key, ChoicePick.value).in_(list(only)))
    rows = session.execute(query).all()
    return {(key, value): count for key, value, count in rows}


Pick = tuple[str, str]  # (question key, choice value)


def picks(definition: FormDefinition, answers: dict[str, Any]) -> set[Pick]:
    """The choices in `answers` that hold places: every pick of a live question with places
    on any of its choices (so the roster can count them all), unless the question is hidden
    by its condition (a hidden question's answer takes no place)."""
    held: set[Pick] = set()
    for question in definition.live():
        if not question.has_places or question.key not in answers or not shown(question, answers):
            continue
        given = answers[question.key]
        values = given if isinstance(given, list) else [given]
        known = {c.value for c in question.choices}
        held.update((question.key, v) for v in values if isinstance(v, str) and v in known)
    return held


def check_places(session: Session, event_id: int, definition: FormDefinition, wanted: Iterable[Pick], *, own: Iterable[Pick] = ()) -> None:
    """ChoiceFull if a choice in `wanted` has no place left. The event must be locked.
    `own` are the places the registration holds already: it keeps them whatever the count
    (an organiser may have lowered the places since), and they are not counted against it."""
    own = set(own)
    asking = sorted(p for p in wanted if p not in own)
    if not asking:
        return
    by_key = definition.by_key()
    limited = {}
    for key, value in asking:
        # Picks read back from the database may name a question or choice the event's form no
        # longer has (it moved to another programme's form): those hold no place to check.
        question = by_key.get(key)
        choice = next((c for c in question.choices if c.value == value), None) if question else None
        if choice is not None and choice.places is not None:
            limited[(key, value)] = choice
    if not limited:
        return
    taken = places_taken(session, event_id, only=limited)
    for (key, value), choice in limited.items():
        if taken.get((key, value), 0) >= (choice.places or 0):
            raise ChoiceFull(f"{choice.label} is full; choose another.", key=key, value=value)


def hold_places(session: Session, registration: Registration, wanted: Iterable[Pick], *, own: Iterable[Pick] = ()) -> None:
    """Record the registration's picks as `wanted`, replacing `own` (those it held before)."""
    wanted, own = set(wanted), set(own)
    dropped = own - wanted
    if dropped:
        # Through the ORM, not a bulk DELETE: the unit of work then knows these rows are this
        # event's seats (db._remember_write), where a bulk statement names no event and would
        # count as a change to every page of the site.
        for pick in session.scalars(select(ChoicePick).where(
            ChoicePick.registration_id == registration.id,
            tuple_(ChoicePick.question_key, ChoicePick.value).in_(sorted(dropped)),
        )):
            session.delete(pick)
    session.add_all(
        ChoicePick(registration_id=registration.id, question_key=key, value=value, event_id=registration.event_id)
        for key, value in sorted(wanted - own)
    )


def move_places(session: Session, form: FormDefinition, registration: Registration, answers: dict[str, Any]) -> None:
    """A registration's answers change to `answers`: hold the places of the choices whose
    answers changed, under the event's lock (ChoiceFull if one has none left); the places of
    unchanged answers stay as they are (even in a choice now over its places)."""
    # Every answer, the sealed ones too: a choice with places may be shown on a sensitive answer.
    before, after = picks(form, all_answers(session, registration)), picks(form, answers)
    keys = {key for key, _ in before ^ after}
    if not keys:
        return
    session.execute(select(Event.id).where(Event.id == registration.event_id).with_for_update())
    session.refresh(registration)  # read again under the lock: it may have been cancelled since
    if registration.status not in ACTIVE_STATUSES:
        raise InvalidTransition("This registration is no longer active, so its details cannot change.")
    own = {p for p in held_places(session, registration.id) if p[0] in keys}
    wanted = {p for p in after if p[0] in keys}
    check_places(session, registration.event_id, form, wanted, own=own)
    hold_places(session, registration, wanted, own=own)


def held_places(session: Session, registration_id: int) -> set[Pick]:
    """The places one registration holds (whatever its status)."""
    rows = session.execute(
        select(ChoicePick.question_key, ChoicePick.value).where(ChoicePick.registration_id == registration_id)
    )
    return {(key, value) for key, value in rows}


def seats_left(event: Event, confirmed: int) -> int | None:
    """Seats still free, or None when the event has no limit."""
    if event.capacity is None:
        return None
    return max(event.capacity - confirmed, 0)


def session_places_left(item: EventSession, holding: int) -> int | None:
    """Places a session still has, never below none (its places may have been lowered under
    those holding them), or None when it has no limit."""
    return None if item.places is None else max(item.places - holding, 0)


def waitlist_position(session: Session, registration: Registration) -> int | None:
    """1 for the first in the queue; None when not on the waiting list."""
    if registration.status != S.WAITLISTED or registration.waitlisted_at is None:
        return None
    ahead = session.scalar(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == registration.event_id,
            Registration.status == S.WAITLISTED,
            tuple_(Registration.waitlisted_at, Registration.id)
            < tuple_(registration.waitlisted_at, registration.id),
        )
    ) or 0
    return ahead + 1


def fill_free_seats(session: Session, site: Site, event: Event, *, now: datetime | None = None) -> list[Registration]:
    """Give every free seat to the first on the waiting list, in order. The event must be locked.
    A cancelled event gives no seats: there is nothing to come to."""
    now = now or utcnow()
    if event.status == EventStatus.CANCELLED:
        return []
    left = seats_left(event, confirmed_count(session, event.id))
    if left is not None and left <= 0:
        return []
    query = (
        select(Registration)
        .where(Registration.event_id == event.id, Registration.status == S.WAITLISTED)
        .order_by(Registration.waitlisted_at, Registration.id)
    )
    if left is not None:
        query = query.limit(left)
    promoted = list(session.scalars(query))
    for registration in promoted:
        registration.status = S.CONFIRMED
        registration.confirmed_at = now
        registration.waitlisted_at = None
        registration.updated_at = now
        give_code(registration, session=session)
        queue_registration_message(session, site, "promoted", registration, event)
    return promoted


@dataclass
class Seats:
    """Running counts while a bulk action works through its registrations."""

    event: Event
    confirmed: int
    waiting: int
    freed: bool = False

    def free(self) -> bool:
        left = seats_left(self.event, self.confirmed)
        return left is None or left > 0


def seats_after_cancelling(session: Session, event: Event, cancelling: list[Registration]) -> tuple[int, int]:
    """(seats freed, how many on the waiting list would be given one) if `cancelling` were
    cancelled now, as act_on_registrations and fill_free_seats would do it: seats are filled
    only when the cancelling freed one, never at a cancelled event, and whoever is being
    cancelled is no longer waiting."""
    freed = sum(r.status == S.CONFIRMED for r in cancelling)
    if not freed or event.status == EventStatus.CANCELLED:
        return freed, 0
    waiting = waitlisted_count(session, event.id) - sum(r.status == S.WAITLISTED for r in cancelling)
    left = seats_left(event, confirmed_count(session, event.id) - freed)
    return freed, waiting if left is None else max(0, min(left, waiting))


def promote_from_waitlist(
    session: Session, site: Site, actor: Actor | None, event: Event, *, now: datetime | None = None, by: AuditActor | None = None
) -> list[Registration]:
    """fill_free_seats, with an audit entry for each promotion (made by `actor`, or as `by`
    says). The event must be locked."""
    now = now or utcnow()
    promoted = fill_free_seats(session, site, event, now=now)
    for registration in promoted:
        audit.record(
            session, actor, "registration.promote", event_id=event.id, registration_id=registration.id,
            before={"status": S.WAITLISTED}, after={"status": S.CONFIRMED, "reason": "a seat became free"}, now=now, by=by,
        )
    return promoted


def counts_by_status(session: Session, event_ids: list[int]) -> dict[int, dict[str, int]]:
    """{event_id: {status: count}} for the given events, in one grouped query."""
    counts: dict[int, dict[str, int]] = {i: {} for i in event_ids}
    if event_ids:
        rows = session.execute(
            select(Registration.event_id, Registration.status, func.count())
            .where(Registration.event_id.in_(event_ids))
            .group_by(Registration.event_id, Registration.status)
        )
        for event_id, status, n in rows:
            counts[event_id][RegistrationStatus(status).value] = n
    return counts


def confirmed_counts(session: Session, event_ids: list[int]) -> dict[int, int]:
    if not event_ids:
        return {}
    rows = session.execute(
        select(Registration.event_id, func.count())
        .where(Registration.event_id.in_(event_ids), Registration.status == RegistrationStatus.CONFIRMED)
        .group_by(Registration.event_id)
    )
    return {event_id: count for event_id, count in rows}


# Sessions of a conference that participants choose (a workshop of 30). A choice holds one
# of the session's places while its registration is active and it is not waiting; with
# `waiting` it is on the session's own waiting list, given a freed place in order. Like
# seats, every change happens under the event's lock.


def session_places_taken(session: Session, event_id: int, only: Iterable[int] | None = None) -> dict[int, int]:
    """Places held per session id at one event (choices not waiting, by active registrations);
    with `only`, just those sessions."""
    query = (
        select(SessionChoice.session_id, func.count())
        .join(Registration, Registration.id == SessionChoice.registration_id)
        .where(SessionChoice.event_id == event_id, SessionChoice.waiting.is_(False), Registration.status.in_(ACTIVE_STATUSES))
        .group_by(SessionChoice.session_id)
    )
    if only is not None:
        query = query.where(SessionChoice.session_id.in_(list(only)))
    return {session_id: count for session_id, count in session.execute(query)}


def sessions_filled_since(session: Session, registration_id: int) -> list[EventSession]:
    """The sessions an inactive registration still holds a place in (a rejection keeps its
    choices) that active registrations have filled since, in time order: making it active
    again would put them over their places."""
    held = list(session.scalars(
        select(EventSession)
        .join(SessionChoice, SessionChoice.session_id == EventSession.id)
        .where(SessionChoice.registration_id == registration_id, SessionChoice.waiting.is_(False), EventSession.places.is_not(None))
        .order_by(EventSession.starts_at, EventSession.id)
    ))
    if not held:
        return []
    taken = session_places_taken(session, held[0].event_id, only=[s.id for s in held])
    return [s for s in held if taken.get(s.id, 0) >= (s.places or 0)]


def session_waiting_counts(session: Session, event_id: int) -> dict[int, int]:
    """How many wait for a place, per session id, at one event."""
    rows = session.execute(
        select(SessionChoice.session_id, func.count())
        .join(Registration, Registration.id == SessionChoice.registration_id)
        .where(SessionChoice.event_id == event_id, SessionChoice.waiting.is_(True), Registration.status.in_(ACTIVE_STATUSES))
        .group_by(SessionChoice.session_id)
    )
    return {session_id: count for session_id, count in rows}


def choosable_sessions(session: Session, event_id: int) -> list[EventSession]:
    """The event's sessions that participants choose, in time order (cancelled ones too)."""
    return list(session.scalars(
        select(EventSession).where(EventSession.event_id == event_id, EventSession.choose.is_(True))
        .order_by(EventSession.starts_at, EventSession.room, EventSession.id)
    ))


@dataclass(frozen=True)
class SessionPlan:
    """What choosing a set of sessions comes to: each chosen session, and whether it waits."""

    held: list[EventSession]
    waiting: list[EventSession]


def plan_sessions(session: Session, event_id: int, keys: Iterable[str], *, own: Mapping[int, bool] | None = None) -> SessionPlan:
    """Check the sessions chosen by key, at a locked event: every one a session to choose and
    not cancelled, no two at the same time, and each with a place (or its waiting list open),
    else SessionChoiceProblem naming them. `own` are the registration's choices already made
    (session id -> waiting): a place held stays held whatever the count (the organiser may
    have lowered the places since), and a place waited for keeps its turn."""
    own = dict(own or {})
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return SessionPlan([], [])
    by_key = {s.key: s for s in choosable_sessions(session, event_id)}
    unknown = [k for k in wanted if k not in by_key]
    if unknown:
        raise SessionChoiceProblem("One of the sessions you chose cannot be chosen; choose from the list.", keys=tuple(unknown))
    chosen = sorted((by_key[k] for k in wanted), key=lambda s: (s.starts_at, s.id))
    for gone in chosen:
        if gone.status == SessionStatus.CANCELLED and gone.id not in own:
            raise SessionChoiceProblem(f"{gone.title} has been cancelled; choose another.", keys=(gone.key,))
    live = [s for s in chosen if s.status != SessionStatus.CANCELLED]
    for i, first in enumerate(live):
        for second in live[i + 1:]:
            if second.starts_at >= first.ends_at:
                break
            raise SessionChoiceProblem(
                f"{first.title} and {second.title} are at the same time; choose one of them.", keys=(first.key, second.key)
            )
    asking = [s for s in live if s.places is not None and s.id not in own]
    taken = session_places_taken(session, event_id, only=[s.id for s in asking]) if asking else {}
    held, waiting = [], []
    for choice in live:
        if choice.id in own:
            (waiting if own[choice.id] else held).append(choice)
        elif choice.places is None or taken.get(choice.id, 0) < choice.places:
            held.append(choice)
        elif choice.waitlist:
            waiting.append(choice)
        else:
            raise SessionChoiceProblem(f"{choice.title} is full; choose another.", keys=(choice.key,))
    # A cancelled session the registration chose before stays chosen (it shows as cancelled).
    held.extend(s for s in chosen if s.status == SessionStatus.CANCELLED)
    return SessionPlan(held, waiting)


def hold_sessions(session: Session, registration: Registration, plan: SessionPlan, *, now: datetime) -> tuple[list[EventSession], list[EventSession]]:
    """Make the registration's choices what `plan` says: (added, dropped) sessions."""
    existing = {c.session_id: c for c in session.scalars(select(SessionChoice).where(SessionChoice.registration_id == registration.id))}
    keep = {s.id for s in [*plan.held, *plan.waiting]}
    dropped = [c for sid, c in existing.items() if sid not in keep]
    for choice in dropped:
        session.delete(choice)
    added = []
    for chosen, waiting in [*((s, False) for s in plan.held), *((s, True) for s in plan.waiting)]:
        if chosen.id in existing:
            continue
        added.append(chosen)
        session.add(SessionChoice(
            registration_id=registration.id, session_id=chosen.id, event_id=registration.event_id,
            waiting=waiting, waiting_since=now if waiting else None, created_at=now,
        ))
    session.flush()
    dropped_ids = {c.session_id for c in dropped}
    return added, [s for s in session.scalars(select(EventSession).where(EventSession.id.in_(dropped_ids)))] if dropped_ids else []


def fill_session_places(session: Session, site: Site, event: Event, *, now: datetime | None = None) -> list[tuple[Registration, EventSession]]:
    """Give every freed place of a session with a waiting list to the first waiting for it,
    in order, and tell them. The event must be locked. None at a cancelled event or session."""
    now = now or utcnow()
    if event.status == EventStatus.CANCELLED:
        return []
    sessions = [s for s in choosable_sessions(session, event.id) if s.waitlist and s.places is not None and s.status != SessionStatus.CANCELLED]
    if not sessions:
        return []
    taken = session_places_taken(session, event.id, only=[s.id for s in sessions])
    promoted: list[tuple[Registration, EventSession]] = []
    for waited in sessions:
        free = waited.places - taken.get(waited.id, 0) if waited.places is not None else 0
        if free <= 0:
            continue
        rows = session.execute(
            select(SessionChoice, Registration)
            .join(Registration, Registration.id == SessionChoice.registration_id)
            .where(SessionChoice.session_id == waited.id, SessionChoice.waiting.is_(True), Registration.status.in_(ACTIVE_STATUSES))
            .order_by(SessionChoice.waiting_since, SessionChoice.id)
            .limit(free)
        ).all()
        for choice, registration in rows:
            choice.waiting = False
            choice.waiting_since = None
            promoted.append((registration, waited))
            audit.record(
                session, None, "registration.session_promote", event_id=event.id, registration_id=registration.id,
                before={"session": waited.key, "waiting": True}, after={"session": waited.key, "waiting": False}, now=now,
                by=AuditActor.PORTAL,
            )
            queue_registration_message(session, site, "session_promoted", registration, event, chosen_session=waited)
    return promoted

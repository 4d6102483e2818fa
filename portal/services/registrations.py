"""The registration rules: who gets a seat, who waits, who is asked to wait for approval.

Capacity lives here and only here; the public form and the back office both call it.
Every function that can change who holds a seat first locks the event row, so two
transactions never decide on the same seat count (SELECT ... FOR UPDATE on PostgreSQL; on
SQLite the writing transaction already holds the database's write lock from BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.errors import EventFull, InvalidTransition, NotFound, RegistrationClosed
from portal.models import (
    ACTIVE_STATUSES,
    Admission,
    AuditActor,
    Event,
    EventStatus,
    Programme,
    Registration,
    RegistrationStatus,
)
from portal.services import audit
from portal.services.audit import Actor
from portal.services.mail import Site, queue_registration_message

S = RegistrationStatus


@dataclass(frozen=True)
class Submission:
    """What a participant typed, already checked for shape by the form."""

    name: str
    email: str
    organisation: str = ""
    answers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What register() did. `created` is False when the email was already registered: the
    caller must answer exactly as for a new registration, so the page reveals nothing."""

    created: bool
    status: RegistrationStatus
    registration_id: int


def new_token() -> str:
    return secrets.token_urlsafe(32)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def lock_event(session: Session, slug: str) -> Event:
    """Load an event by slug and hold it until the transaction ends."""
    event = session.scalar(select(Event).where(Event.slug == slug).with_for_update())
    if event is None:
        raise NotFound(f"There is no event at /events/{slug}.")
    return event


def _status_count(session: Session, event_id: int, status: RegistrationStatus) -> int:
    return session.scalar(
        select(func.count()).select_from(Registration).where(Registration.event_id == event_id, Registration.status == status)
    ) or 0


def confirmed_count(session: Session, event_id: int) -> int:
    return _status_count(session, event_id, S.CONFIRMED)


def waitlisted_count(session: Session, event_id: int) -> int:
    return _status_count(session, event_id, S.WAITLISTED)


def seats_left(event: Event, confirmed: int) -> int | None:
    """Seats still free, or None when the event has no limit."""
    if event.capacity is None:
        return None
    return max(event.capacity - confirmed, 0)


def check_open(event: Event, now: datetime) -> None:
    """Raise RegistrationClosed unless the event takes registrations at `now`."""
    if event.status == EventStatus.CANCELLED:
        raise RegistrationClosed("This event has been cancelled.")
    if event.status != EventStatus.PUBLISHED:
        raise RegistrationClosed("This event is not open for registration.")
    if now >= event.starts_at:
        raise RegistrationClosed("This event has already started, so registration is closed.")
    if event.registration_opens_at and now < event.registration_opens_at:
        raise RegistrationClosed("Registration for this event has not opened yet.")
    if event.registration_closes_at and now >= event.registration_closes_at:
        raise RegistrationClosed("Registration for this event has closed.")


def register(
    session: Session, site: Site, slug: str, submission: Submission, *, now: datetime | None = None
) -> Outcome:
    """Register an email for an event: confirm, waitlist or hold for approval."""
    # The event, locked, and its programme's admission in one statement: this runs for every
    # registration, and under a rush each statement is time the event's lock is held.
    row = session.execute(
        select(Event, Programme.admission)
        .outerjoin(Programme, Event.programme_id == Programme.id)
        .where(Event.slug == slug)
        .with_for_update(of=Event)
    ).first()
    if row is None:
        raise NotFound(f"There is no event at /events/{slug}.")
    event, admission = row[0], row[1] or Admission.OPEN
    # The clock is read once the lock is held, so the waiting list's order (by waitlisted_at)
    # is the order in which registrations took the lock.
    now = now or utcnow()
    check_open(event, now)
    email = normalise_email(submission.email)

    existing = session.scalar(
        select(Registration).where(
            Registration.event_id == event.id,
            Registration.email == email,
            Registration.status.in_(ACTIVE_STATUSES),
        )
    )
    if existing is not None:
        # Tell the owner of the address, not the visitor: the page looks the same either way.
        queue_registration_message(session, site, "already_registered", existing, event)
        return Outcome(created=False, status=existing.status, registration_id=existing.id)

    counts = dict(
        session.execute(
            select(Registration.status, func.count())
            .where(Registration.event_id == event.id, Registration.status.in_((S.CONFIRMED, S.WAITLISTED)))
            .group_by(Registration.status)
        ).all()
    )
    left = seats_left(event, counts.get(S.CONFIRMED, 0))
    if admission != Admission.OPEN:
        status = S.PENDING
    elif left is None or left > 0:
        status = S.CONFIRMED
    elif event.waitlist:
        status = S.WAITLISTED
    else:
        raise EventFull("This event is full and has no waiting list.")

    registration = Registration(
        event_id=event.id,
        email=email,
        name=submission.name.strip(),
        organisation=submission.organisation.strip(),
        answers=dict(submission.answers),
        status=status,
        token=new_token(),
        consented_at=now,
        confirmed_at=now if status == S.CONFIRMED else None,
        waitlisted_at=now if status == S.WAITLISTED else None,
        created_at=now,
        updated_at=now,
    )
    session.add(registration)
    try:
        session.flush()
    except IntegrityError:
        # Only reachable if the database saw a duplicate the lock did not serialise; the
        # partial unique index is the last line of defence. The whole unit of work rolls back.
        raise RegistrationClosed("This email address is already registered for this event.") from None

    kind = {S.CONFIRMED: "confirmed", S.WAITLISTED: "waitlisted", S.PENDING: "received"}[status]
    # Under the event's lock the newcomer is last in the queue: everyone waitlisted before is
    # ahead (the same order waitlist_position counts in).
    queue_registration_message(
        session, site, kind, registration, event,
        position=counts.get(S.WAITLISTED, 0) + 1 if status == S.WAITLISTED else None,
    )
    return Outcome(created=True, status=status, registration_id=registration.id)


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
        queue_registration_message(session, site, "promoted", registration, event)
    return promoted


def find_by_token(session: Session, token: str) -> Registration:
    """The registration a private token opens, or NotFound."""
    if not token or len(token) > 64 or "\x00" in token:
        raise NotFound("This link is not valid. Check that you copied all of it.")
    registration = session.scalar(select(Registration).where(Registration.token == token))
    # The lookup uses the index; the constant-time comparison guards the equality itself.
    if registration is None or not hmac.compare_digest(registration.token, token):
        raise NotFound("This link is not valid. Check that you copied all of it.")
    return registration


@dataclass(frozen=True)
class RegistrationView:
    """A registration as its owner sees it on the manage page."""

    registration: Registration
    event: Event
    programme: Programme | None
    waitlist_position: int | None
    can_cancel: bool
    can_update: bool


def view_registration(session: Session, token: str, *, now: datetime | None = None) -> RegistrationView:
    now = now or utcnow()
    registration = find_by_token(session, token)
    event = session.get_one(Event, registration.event_id)
    programme = session.get(Programme, event.programme_id) if event.programme_id else None
    active = registration.status in ACTIVE_STATUSES
    before_start = now < event.starts_at
    return RegistrationView(
        registration=registration,
        event=event,
        programme=programme,
        waitlist_position=waitlist_position(session, registration),
        # A cancelled event ended every registration with it: nothing is left to cancel.
        can_cancel=active and before_start and event.status != EventStatus.CANCELLED,
        can_update=active and before_start and event.status != EventStatus.CANCELLED,
    )


def update_details(session: Session, token: str, submission: Submission, *, now: datetime | None = None) -> None:
    """Change the name, organisation and programme answers (the email is the identity). What
    changed goes in the audit log as the participant's change."""
    now = now or utcnow()
    registration = find_by_token(session, token)
    if registration.status not in ACTIVE_STATUSES:
        raise InvalidTransition("This registration is no longer active, so its details cannot change.")
    event_status, starts_at = session.execute(select(Event.status, Event.starts_at).where(Event.id == registration.event_id)).one()
    if event_status == EventStatus.CANCELLED:
        raise InvalidTransition("The organisers have cancelled this event, so your registration ended with it.")
    if now >= starts_at:
        raise InvalidTransition("This event has started; contact the organisers to change your details.")

    def fields() -> dict[str, Any]:
        # Answers under their own keys, unless one is named like the fields beside them.
        answers = {f"answer: {k}" if k in ("name", "organisation") else k: v for k, v in (registration.answers or {}).items()}
        return {"name": registration.name, "organisation": registration.organisation, **answers}

    before = fields()
    registration.name = submission.name.strip()
    registration.organisation = submission.organisation.strip()
    registration.answers = dict(submission.answers)
    registration.updated_at = now
    after = fields()
    changed = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    if changed:
        audit.record(
            session, None, "registration.update", event_id=registration.event_id, registration_id=registration.id,
            before={k: before.get(k) for k in changed}, after={k: after.get(k) for k in changed}, now=now,
            by=AuditActor.PARTICIPANT,
        )


def cancel(session: Session, site: Site, token: str, *, now: datetime | None = None) -> Registration:
    """The participant cancels; a confirmed seat goes at once to the first on the waiting list."""
    now = now or utcnow()
    registration = find_by_token(session, token)
    event = session.scalar(select(Event).where(Event.id == registration.event_id).with_for_update())
    assert event is not None
    session.refresh(registration)  # read it again under the lock
    if registration.status not in ACTIVE_STATUSES:
        raise InvalidTransition("This registration is already cancelled or closed.")
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition("The organisers have cancelled this event, so your registration ended with it: there is nothing more to do.")
    if now >= event.starts_at:
        raise InvalidTransition("This event has started; contact the organisers to change your registration.")
    was = registration.status
    registration.status = S.CANCELLED
    registration.cancelled_at = now
    registration.waitlisted_at = None
    registration.updated_at = now
    session.flush()
    audit.record(
        session, None, "registration.cancel", event_id=event.id, registration_id=registration.id,
        before={"status": was}, after={"status": S.CANCELLED}, now=now, by=AuditActor.PARTICIPANT,
    )
    queue_registration_message(session, site, "cancelled", registration, event, held_seat=was == S.CONFIRMED)
    if was == S.CONFIRMED:
        promote_from_waitlist(session, site, None, event, now=now, by=AuditActor.PORTAL)
    return registration


# --- Organisers' actions on a roster (the back office) ----------------------------------------
# The same lock and the same capacity functions as the public side: every action runs under
# lock_event, counts seats with confirmed_count/seats_left, and hands freed seats to the
# waiting list with fill_free_seats. Each change is written to the audit log and emailed.


class RosterAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    WAITLIST = "waitlist"
    PROMOTE = "promote"
    CANCEL = "cancel"
    CHECK_IN = "check_in"
    UNDO_CHECK_IN = "undo_check_in"


# The email each status change sends; check-in sends none. An approval that finds no seat
# is still an approval: its email says so and gives the place in the queue.
_ACTION_MAIL = {
    (RosterAction.APPROVE, S.CONFIRMED): "approved",
    (RosterAction.APPROVE, S.WAITLISTED): "approved",
    (RosterAction.REJECT, S.REJECTED): "rejected",
    (RosterAction.WAITLIST, S.WAITLISTED): "waitlisted",
    (RosterAction.PROMOTE, S.CONFIRMED): "promoted",
    (RosterAction.CANCEL, S.CANCELLED): "cancelled",
}

MAX_BULK = 500


@dataclass(frozen=True)
class ActionResult:
    registration_id: int
    name: str
    before: RegistrationStatus | None
    after: RegistrationStatus | None  # None when nothing changed
    problem: str | None = None


@dataclass(frozen=True)
class ActionReport:
    action: RosterAction
    event_slug: str
    results: list[ActionResult]
    # Taken from the waiting list because the action freed seats: (id, name), in queue order.
    promoted: list[tuple[int, str]]

    @property
    def changed(self) -> list[ActionResult]:
        return [r for r in self.results if r.problem is None]

    @property
    def skipped(self) -> list[ActionResult]:
        return [r for r in self.results if r.problem is not None]


@dataclass
class _Seats:
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


def _status_change(action: RosterAction, registration: Registration, seats: _Seats, session: Session) -> tuple[RegistrationStatus | None, str | None]:
    """The status an action moves a registration to, or the reason it cannot."""
    status = registration.status
    cancelled_event = seats.event.status == EventStatus.CANCELLED
    if action == RosterAction.APPROVE:
        if status not in (S.PENDING, S.REJECTED):
            return None, f"is {_words(status)}, not waiting for a decision"
        if cancelled_event:
            return None, "cannot be given a seat: the event is cancelled"
        if status == S.REJECTED and _has_other_active(session, registration):
            return None, "has registered again since; decide on the newer registration"
        return (S.CONFIRMED if seats.free() else S.WAITLISTED), None
    if action == RosterAction.REJECT:
        if status not in ACTIVE_STATUSES:
            return None, f"is {_words(status)} already"
        return S.REJECTED, None
    if action == RosterAction.WAITLIST:
        if status == S.PENDING:
            if seats.free():
                return None, "could have a seat, which is free: approve instead, or leave the application pending"
            return S.WAITLISTED, None
        if status == S.CONFIRMED:
            if seats.waiting == 0:
                return None, "would get the freed seat straight back, as nobody else is waiting: cancel or reject instead"
            return S.WAITLISTED, None
        return None, f"is {_words(status)}"
    if action == RosterAction.PROMOTE:
        if status != S.WAITLISTED:
            return None, f"is {_words(status)}, not on the waiting list"
        if cancelled_event:
            return None, "cannot be given a seat: the event is cancelled"
        if not seats.free():
            return None, "cannot have a seat: none is free (raise the capacity or cancel a confirmed registration first)"
        return S.CONFIRMED, None
    if action == RosterAction.CANCEL:
        if status not in ACTIVE_STATUSES:
            return None, f"is {_words(status)} already"
        return S.CANCELLED, None
    raise ValueError(action)


def _words(status: RegistrationStatus) -> str:
    return {
        S.PENDING: "pending",
        S.CONFIRMED: "confirmed",
        S.WAITLISTED: "on the waiting list",
        S.CANCELLED: "cancelled",
        S.REJECTED: "rejected",
    }[status]


def _has_other_active(session: Session, registration: Registration) -> bool:
    return session.scalar(
        select(Registration.id).where(
            Registration.event_id == registration.event_id,
            Registration.email == registration.email,
            Registration.id != registration.id,
            Registration.status.in_(ACTIVE_STATUSES),
        ).limit(1)
    ) is not None


def _move(registration: Registration, to: RegistrationStatus, seats: _Seats, now: datetime) -> None:
    was = registration.status
    if was == S.CONFIRMED:
        seats.confirmed -= 1
        seats.freed = True
    if was == S.WAITLISTED:
        seats.waiting -= 1
    registration.status = to
    registration.updated_at = now
    if to == S.CONFIRMED:
        registration.confirmed_at = now
        registration.waitlisted_at = None
        seats.confirmed += 1
    elif to == S.WAITLISTED:
        # The back of the queue, whatever the registration's age.
        registration.waitlisted_at = now
        registration.confirmed_at = None
        seats.waiting += 1
    else:
        registration.waitlisted_at = None
        if to == S.CANCELLED:
            registration.cancelled_at = now


def _check_in(action: RosterAction, registration: Registration, now: datetime) -> str | None:
    if action == RosterAction.CHECK_IN:
        if registration.status != S.CONFIRMED:
            return f"is {_words(registration.status)}, so cannot be checked in"
        if registration.checked_in_at is not None:
            return "is checked in already"
        registration.checked_in_at = now
    else:
        if registration.checked_in_at is None:
            return "is not checked in"
        registration.checked_in_at = None
    registration.updated_at = now
    return None


def act_on_registrations(
    session: Session,
    site: Site,
    actor: Actor | None,
    slug: str,
    action: RosterAction,
    registration_ids: list[int],
    *,
    now: datetime | None = None,
) -> ActionReport:
    """An organiser's action on one or many registrations of one event, under the event lock.
    Seats go first-come among the selected; seats it frees go to the waiting list in order."""
    now = now or utcnow()
    action = RosterAction(action)
    if len(registration_ids) > MAX_BULK:
        raise InvalidTransition(f"Select at most {MAX_BULK} registrations at a time.")
    event = lock_event(session, slug)
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition(
            "This event is cancelled: its roster stays as it was when it was cancelled, and nobody on it can be moved or emailed."
        )
    selected = list(
        session.scalars(
            select(Registration)
            .where(Registration.event_id == event.id, Registration.id.in_(set(registration_ids)))
            .order_by(Registration.created_at, Registration.id)
        )
    )
    seats = _Seats(event, confirmed_count(session, event.id), waitlisted_count(session, event.id))
    results: list[ActionResult] = []
    for missing in sorted(set(registration_ids) - {r.id for r in selected}):
        results.append(ActionResult(missing, "", None, None, "is not on this event's roster"))

    for registration in selected:
        before = registration.status
        if action in (RosterAction.CHECK_IN, RosterAction.UNDO_CHECK_IN):
            old_time = registration.checked_in_at
            problem = _check_in(action, registration, now)
            if problem is None:
                audit.record(
                    session, actor, f"registration.{action}", event_id=event.id, registration_id=registration.id,
                    before={"checked_in_at": old_time}, after={"checked_in_at": registration.checked_in_at}, now=now,
                )
            results.append(ActionResult(registration.id, registration.name, before, None if problem else before, problem))
            continue

        to, problem = _status_change(action, registration, seats, session)
        if to is None:
            results.append(ActionResult(registration.id, registration.name, before, None, problem))
            continue
        _move(registration, to, seats, now)
        session.flush()
        audit.record(
            session, actor, f"registration.{action}", event_id=event.id, registration_id=registration.id,
            before={"status": before}, after={"status": to}, now=now,
        )
        kind = _ACTION_MAIL[(action, to)]
        position = waitlist_position(session, registration) if to == S.WAITLISTED else None
        queue_registration_message(
            session, site, kind, registration, event, position=position, held_seat=before == S.CONFIRMED
        )
        results.append(ActionResult(registration.id, registration.name, before, to))

    promoted: list[Registration] = []
    if seats.freed:
        session.flush()
        promoted = promote_from_waitlist(session, site, actor, event, now=now)
    return ActionReport(action, event.slug, results, [(r.id, r.name) for r in promoted])


def event_slug_of(session: Session, registration_id: int) -> str:
    """The slug of the event a registration belongs to, or NotFound."""
    slug = session.scalar(
        select(Event.slug).join(Registration, Registration.event_id == Event.id).where(Registration.id == registration_id)
    )
    if slug is None:
        raise NotFound("There is no such registration.")
    return slug


def act_on_registration(
    session: Session, site: Site, actor: Actor | None, registration_id: int, action: RosterAction, *, now: datetime | None = None
) -> ActionReport:
    """An organiser's action on one registration (the registration page, the door)."""
    return act_on_registrations(session, site, actor, event_slug_of(session, registration_id), action, [registration_id], now=now)

"""Organisers' actions on a roster: approve, reject, waitlist, promote, cancel, check in.

The same lock and the same capacity rules as the public side (seats.py): every action runs
under lock_event, counts seats with the seats module, and hands freed seats to the waiting
list with promote_from_waitlist. Each change is written to the audit log and emailed.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.errors import ChoiceFull, InvalidTransition, NotFound
from portal.mail.messages import queue_registration_message
from portal.models import ACTIVE_STATUSES, AuditEntry, Event, EventStatus, Registration, RegistrationStatus, event_by_slug
from portal.questions.store import definition_for_event
from portal.registrations.attendance import day_words, first_check_ins
from portal.registrations.checkins import admit, day_of, undo_day
from portal.registrations.seats import (
    Seats,
    check_places,
    confirmed_count,
    fill_session_places,
    held_places,
    lock_event,
    promote_from_waitlist,
    seats_left,
    sessions_filled_since,
    waitlist_position,
    waitlisted_count,
)
from portal.registrations.tickets import give_code
from portal.site import Site

S = RegistrationStatus


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
    # The same confirmation came a second time (a double click): nothing was done again.
    repeated: bool = False

    @property
    def changed(self) -> list[ActionResult]:
        return [r for r in self.results if r.problem is None]

    @property
    def skipped(self) -> list[ActionResult]:
        return [r for r in self.results if r.problem is not None]


def _status_change(action: RosterAction, registration: Registration, seats: Seats, session: Session) -> tuple[RegistrationStatus | None, str | None]:
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
        if status == S.REJECTED:
            # A rejection freed the choices with places it held; taking it back takes them again.
            held = held_places(session, registration.id)
            if held:
                form = definition_for_event(session, seats.event)
                try:
                    check_places(session, registration.event_id, form, held)
                except ChoiceFull as full:
                    question = form.by_key()[full.key]
                    return None, (
                        f"cannot be approved: “{question.choice_label(full.value)}” ({question.label}) has no place left; "
                        "raise its places in the form, or change the answer first"
                    )
            # Its conference sessions too: the places it held may have gone to others since.
            filled = sessions_filled_since(session, registration.id)
            if filled:
                return None, (
                    f"cannot be approved: the session “{filled[0].title}” it chose has no place left; "
                    "raise its places in the timetable first"
                )
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


def _count_move(seats: Seats, was: RegistrationStatus, to: RegistrationStatus) -> None:
    """The running counts after one registration moves from `was` to `to`."""
    if was == S.CONFIRMED:
        seats.confirmed -= 1
        seats.freed = True
    if was == S.WAITLISTED:
        seats.waiting -= 1
    if to == S.CONFIRMED:
        seats.confirmed += 1
    elif to == S.WAITLISTED:
        seats.waiting += 1


def _move(registration: Registration, to: RegistrationStatus, seats: Seats, now: datetime) -> None:
    _count_move(seats, registration.status, to)
    registration.status = to
    registration.updated_at = now
    if to == S.CONFIRMED:
        registration.confirmed_at = now
        registration.waitlisted_at = None
        give_code(registration)
    elif to == S.WAITLISTED:
        # The back of the queue, whatever the registration's age.
        registration.waitlisted_at = now
        registration.confirmed_at = None
    else:
        registration.waitlisted_at = None
        if to == S.CANCELLED:
            registration.cancelled_at = now


def _check_in(
    session: Session, event: Event, action: RosterAction, registration: Registration, attended: Container[date],
    actor: Actor | None, now: datetime, door: str,
) -> tuple[str | None, date]:
    """Check in for the event's day that `now` falls on (checkins.day_of), or undo that day's
    check-in, given the days the registration `attended`; (the reason it cannot, or None; the day)."""
    day = day_of(event, now)
    when = day_words(day, now.astimezone(ZoneInfo(event.timezone)).date())
    if action == RosterAction.CHECK_IN:
        if registration.status != S.CONFIRMED:
            return f"is {_words(registration.status)}, so cannot be checked in", day
        if day in attended:
            return f"is already checked in {when}", day
        admit(session, event, registration, at=now, door=door, organiser_id=actor.id if actor else None)
    else:
        if day not in attended:
            return f"is not checked in {when}", day
        undo_day(session, registration, day)
    registration.updated_at = now
    return None, day


def act_on_registrations(
    session: Session,
    site: Site,
    actor: Actor | None,
    slug: str,
    action: RosterAction,
    registration_ids: list[int],
    *,
    now: datetime | None = None,
    door: str = "back office",
    note: str = "",
    nonce: str = "",
) -> ActionReport:
    """An organiser's action on one or many registrations of one event, under the event lock.
    Seats go first-come among the selected; seats it frees go to the waiting list in order.
    A check-in counts for the event's day `now` falls on; `door` names where it was made.
    `note` goes into each email the action sends and into the audit log; a `nonce` already
    used for this action (a confirmation sent twice) acts on nobody and says so."""
    now = now or utcnow()
    action = RosterAction(action)
    event = lock_event(session, slug)
    selected = _selected(session, event, registration_ids)
    if nonce and _nonce_used(session, event, action, selected, nonce):
        return ActionReport(action, event.slug, [], [], repeated=True)
    seats = Seats(event, confirmed_count(session, event.id), waitlisted_count(session, event.id))
    results: list[ActionResult] = []
    for missing in sorted(set(registration_ids) - {r.id for r in selected}):
        results.append(ActionResult(missing, "", None, None, "is not on this event's roster"))

    checking_in = action in (RosterAction.CHECK_IN, RosterAction.UNDO_CHECK_IN)
    attended = first_check_ins(session, event, selected) if checking_in else {}
    for registration in selected:
        before = registration.status
        if registration.anonymised_at is not None:
            results.append(ActionResult(registration.id, registration.name, before, None, "is anonymised: there is nobody to email or admit"))
            continue
        if checking_in:
            old_time = registration.checked_in_at
            problem, day = _check_in(session, event, action, registration, attended[registration.id], actor, now, door)
            if problem is None:
                audit.record(
                    session, actor, f"registration.{action}", event_id=event.id, registration_id=registration.id,
                    before={"checked_in_at": old_time}, after={"checked_in_at": registration.checked_in_at, "day": day.isoformat()},
                    now=now,
                )
            results.append(ActionResult(registration.id, registration.name, before, None if problem else before, problem))
            continue

        to, problem = _status_change(action, registration, seats, session)
        if to is None:
            results.append(ActionResult(registration.id, registration.name, before, None, problem))
            continue
        _move(registration, to, seats, now)
        session.flush()
        after: dict[str, object] = {"status": to}
        if note:
            after["note"] = note
        if nonce:
            after["nonce"] = nonce
        audit.record(
            session, actor, f"registration.{action}", event_id=event.id, registration_id=registration.id,
            before={"status": before}, after=after, now=now,
        )
        kind = _ACTION_MAIL[(action, to)]
        position = waitlist_position(session, registration) if to == S.WAITLISTED else None
        queue_registration_message(
            session, site, kind, registration, event, position=position, held_seat=before == S.CONFIRMED,
            organiser_note=note,
        )
        results.append(ActionResult(registration.id, registration.name, before, to))

    promoted: list[Registration] = []
    if seats.freed:
        session.flush()
        promoted = promote_from_waitlist(session, site, actor, event, now=now)
    if any(r.after in (S.CANCELLED, S.REJECTED) for r in results):
        # Whoever left frees the places they held in the event's sessions.
        session.flush()
        fill_session_places(session, site, event, now=now)
    return ActionReport(action, event.slug, results, [(r.id, r.name) for r in promoted])


def _selected(session: Session, event: Event, registration_ids: list[int]) -> list[Registration]:
    """The selected registrations on the event's roster, in the order an action takes them."""
    if len(registration_ids) > MAX_BULK:
        raise InvalidTransition(f"Select at most {MAX_BULK} registrations at a time.")
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition(
            "This event is cancelled: its roster stays as it was when it was cancelled, and nobody on it can be moved or emailed."
        )
    return list(
        session.scalars(
            select(Registration)
            .where(Registration.event_id == event.id, Registration.id.in_(set(registration_ids)))
            .order_by(Registration.created_at, Registration.id)
        )
    )


def _nonce_used(session: Session, event: Event, action: RosterAction, selected: list[Registration], nonce: str) -> bool:
    # The audit entries of this action on these registrations carry the nonce that made them;
    # under the event lock, a second submission sees the first one's entries.
    entries = session.scalars(
        select(AuditEntry.after).where(
            AuditEntry.event_id == event.id, AuditEntry.action == f"registration.{action}",
            AuditEntry.registration_id.in_([r.id for r in selected]),
        )
    )
    return any(isinstance(after, dict) and after.get("nonce") == nonce for after in entries)


# The actions that email each registration they change (see _ACTION_MAIL); check-in emails nobody.
EMAILING = frozenset(action for action, _ in _ACTION_MAIL)


@dataclass(frozen=True)
class ActionPlan:
    """What an action would do to the selected registrations, for the page that asks first."""

    event: Event
    action: RosterAction
    # Those the action applies to, in the order it takes them: each is emailed.
    emailed: list[Registration]
    # (name, why not) of the selected it would leave as they are.
    skipped: list[tuple[str, str]]
    # Confirmed seats it frees, and how many on the waiting list would then be given one (and
    # emailed too).
    seats_freed: int
    promotions: int


def plan_action(session: Session, slug: str, action: RosterAction, registration_ids: list[int]) -> ActionPlan:
    """act_on_registrations without acting: whom it would move and email, by the same rules."""
    action = RosterAction(action)
    event = event_by_slug(session, slug)
    selected = _selected(session, event, registration_ids)
    seats = Seats(event, confirmed_count(session, event.id), waitlisted_count(session, event.id))
    emailed: list[Registration] = []
    skipped = [("", "is not on this event's roster") for _ in set(registration_ids) - {r.id for r in selected}]
    for registration in selected:
        to, problem = _status_change(action, registration, seats, session)
        if to is None:
            skipped.append((registration.name, problem or ""))
            continue
        _count_move(seats, registration.status, to)
        emailed.append(registration)
    promotions = 0
    if seats.freed:
        left = seats_left(event, seats.confirmed)
        promotions = seats.waiting if left is None else max(0, min(left, seats.waiting))
    seats_freed = sum(r.status == S.CONFIRMED for r in emailed)
    return ActionPlan(event, action, emailed, skipped, seats_freed, promotions)


def event_slug_of(session: Session, registration_id: int) -> str:
    """The slug of the event a registration belongs to, or NotFound."""
    slug = session.scalar(
        select(Event.slug).join(Registration, Registration.event_id == Event.id).where(Registration.id == registration_id)
    )
    if slug is None:
        raise NotFound("There is no such registration.")
    return slug


def act_on_registration(
    session: Session, site: Site, actor: Actor | None, registration_id: int, action: RosterAction, *,
    now: datetime | None = None, door: str = "back office", note: str = "",
) -> ActionReport:
    """An organiser's action on one registration (the registration page, the door)."""
    return act_on_registrations(
        session, site, actor, event_slug_of(session, registration_id), action, [registration_id], now=now, door=door, note=note
    )

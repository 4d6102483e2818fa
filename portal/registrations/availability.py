"""Availability: whether an event takes registrations at a moment, in one place. The public
pages' plain words, the back office's view of the public form, and the register service's
refusal all read these rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from portal.db import utcnow
from portal.errors import RegistrationClosed
from portal.models import Admission, Event, EventStatus, Programme
from portal.registrations.seats import seats_left


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


class State(StrEnum):
    OPEN = "open"
    FULL_WAITLIST = "full_waitlist"
    FULL = "full"
    NOT_YET_OPEN = "not_yet_open"
    CLOSED = "closed"
    STARTED = "started"
    CANCELLED = "cancelled"
    DRAFT = "draft"


@dataclass(frozen=True)
class RegistrationState:
    """Where registration stands, for the plain words on the event page."""

    state: State
    seats_left: int | None  # None: no limit
    opens_at: datetime | None
    closes_at: datetime | None

    @property
    def can_register(self) -> bool:
        return self.state in (State.OPEN, State.FULL_WAITLIST)


def registration_state(event: Event, confirmed: int, now: datetime, admission: Admission = Admission.OPEN) -> RegistrationState:
    """Where registration for the event stands at `now`, with `confirmed` seats taken."""
    return _state(event, seats_left(event, confirmed), now, admission)


def state_after_refusal(
    event: Event, before: RegistrationState, now: datetime, admission: Admission, *, full: bool
) -> RegistrationState:
    """Where registration stands once the register service refused a registration, as closed
    or, when `full`, for want of a seat: no seat left then, and the time rules at `now`. It
    needs no count: the refusal said what the count had come to."""
    return _state(event, 0 if full and event.capacity is not None else before.seats_left, now, admission)


def _state(event: Event, left: int | None, now: datetime, admission: Admission) -> RegistrationState:
    if event.status == EventStatus.CANCELLED:
        state = State.CANCELLED
    elif event.status == EventStatus.DRAFT:
        state = State.DRAFT
    elif now >= event.starts_at:
        state = State.STARTED
    elif event.registration_opens_at and now < event.registration_opens_at:
        state = State.NOT_YET_OPEN
    elif event.registration_closes_at and now >= event.registration_closes_at:
        state = State.CLOSED
    elif left == 0 and admission == Admission.OPEN:
        state = State.FULL_WAITLIST if event.waitlist else State.FULL
    else:
        state = State.OPEN
    return RegistrationState(state, left, event.registration_opens_at, event.registration_closes_at)


def registration_state_now(event: Event, programme: Programme | None, confirmed: int) -> RegistrationState:
    """registration_state at this moment, with the admission of the event's programme: what
    the back office shows organisers about the public form."""
    return registration_state(event, confirmed, utcnow(), programme.admission if programme else Admission.OPEN)

"""Tickets: every confirmed registration has a check-in code, given the moment it is first
confirmed (registering with a free seat, a promotion from the waiting list, an organiser's
approval or promotion) and kept after, so a ticket already sent stays valid. A waitlisted or
pending registration has none until then; the door admits only a confirmed registration,
whatever code it shows.

The code's format and the QR's payload live in documents.tickets (the floors below this one,
the emails and badges, read them too); they are named here as well for the floors above.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from portal.documents import qr
from portal.documents.tickets import ALPHABET, code_from_payload, display_code, new_code, normalise_code, payload
from portal.models import Event, EventStatus, Registration, RegistrationStatus

__all__ = [
    "ALPHABET", "Ticket", "code_from_payload", "display_code", "give_code", "new_code", "normalise_code", "payload",
    "ticket_of",
]

# Fifty bits: a repeat among even millions of codes is about one chance in a billion per new
# code. A repeat is looked for and drawn again; the unique index stays the last word.
_TRIES = 8


def give_code(registration: Registration, *, session: Session | None = None) -> str:
    """The registration's check-in code, given now if it has none (once confirmed)."""
    if registration.checkin_code:
        return registration.checkin_code
    session = session or object_session(registration)
    for _ in range(_TRIES):
        code = new_code()
        if session is None or session.scalar(select(Registration.id).where(Registration.checkin_code == code)) is None:
            registration.checkin_code = code
            return code
    raise RuntimeError("could not draw an unused check-in code")  # pragma: no cover - 2**-400


@dataclass(frozen=True)
class Ticket:
    """What a ticket shows: the code as people read it, and its QR code (inline SVG)."""

    code: str
    shown: str
    payload: str
    svg: str


def ticket_of(registration: Registration, event: Event) -> Ticket | None:
    """The registration's ticket, or None: only a confirmed registration to an event that is
    not cancelled has one."""
    code = registration.checkin_code
    if registration.status != RegistrationStatus.CONFIRMED or event.status == EventStatus.CANCELLED or not code:
        return None
    shown = display_code(code)
    return Ticket(code, shown, payload(code), qr.svg(payload(code), title=f"QR code of your ticket, check-in code {shown}"))

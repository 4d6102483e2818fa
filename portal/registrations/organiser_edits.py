"""What organisers change on a registration besides its status: its details (name, email,
organisation), internal notes, and walk-ins added at the door.

Every change is in the audit log. A detail's change keeps its value before and after; a
note's entry says that one was written and how long it is, not what it says (a note may hold
what the participant should never read, and the audit log is shown on more pages than the
registration's). A walk-in is confirmed and checked in at once, under the event's lock and
the seats module's count like any registration: a full event refuses one unless the
organiser admits them over capacity, which the log records as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.errors import InvalidInput, InvalidTransition, NotFound
from portal.mail.lostlinks import queue_lost_links
from portal.mail.messages import queue_registration_message
from portal.models import ACTIVE_STATUSES, Event, EventStatus, Organiser, Registration, RegistrationNote, RegistrationStatus
from portal.registrations.checkins import admit, day_of
from portal.registrations.participants import new_token
from portal.registrations.seats import confirmed_count, lock_event, lock_event_of, seats_left, waitlist_position
from portal.registrations.tickets import give_code
from portal.site import Site
from portal.templating import plural
from portal.text import normalise_email

S = RegistrationStatus
# Where a walk-in's check-in was made, as the registration page lists its check-ins.
WALK_IN_DOOR = "walk-in at the door"


@dataclass(frozen=True)
class Details:
    """The details an organiser may correct."""

    name: str
    email: str
    organisation: str = ""


class EmailTaken(InvalidInput):
    """Another active registration of the event has this address: `registration_id` is it."""

    status_code = 409

    def __init__(self, message: str, *, registration_id: int) -> None:
        super().__init__(message)
        self.registration_id = registration_id


def _other_with_email(session: Session, event_id: int, email: str, besides: int | None = None) -> Registration | None:
    query = select(Registration).where(
        Registration.event_id == event_id, Registration.email == email, Registration.status.in_(ACTIVE_STATUSES)
    )
    if besides is not None:
        query = query.where(Registration.id != besides)
    return session.scalars(query.limit(1)).first()


def _registration(session: Session, registration_id: int) -> Registration:
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("There is no such registration.")
    _not_anonymised(registration)
    return registration


def _not_anonymised(registration: Registration) -> None:
    if registration.anonymised_at is not None:
        raise InvalidTransition("This registration is anonymised: its personal data is gone, and nothing can be added to it.")


def edit_details(
    session: Session, actor: Actor, registration_id: int, details: Details, *, site: Site | None = None, now: datetime | None = None,
) -> list[str]:
    """Correct a registration's name, email or organisation; returns the fields that changed.
    EmailTaken if another active registration of the event has the new address. A new
    address gets a new private link, emailed to it (with `site`): the old link, in the
    first address's mailbox, would otherwise open the new address's data and could erase it.
    Nothing else is emailed."""
    now = now or utcnow()
    registration = _registration(session, registration_id)
    # Under the event's lock, so that a registration with the new address cannot slip in
    # between the check and the change.
    event = lock_event_of(session, registration)
    _not_anonymised(registration)
    before = {"name": registration.name, "email": registration.email, "organisation": registration.organisation}
    after = {"name": details.name.strip(), "email": normalise_email(details.email), "organisation": details.organisation.strip()}
    changed = [k for k in before if before[k] != after[k]]
    if not changed:
        return []
    if "email" in changed and registration.status in ACTIVE_STATUSES:
        other = _other_with_email(session, registration.event_id, after["email"], besides=registration.id)
        if other is not None:
            raise EmailTaken(
                f"{after['email']} is already registered for this event ({other.name}, {other.status.value}). "
                "One address has one registration per event.",
                registration_id=other.id,
            )
    registration.name, registration.email, registration.organisation = after["name"], after["email"], after["organisation"]
    registration.updated_at = now
    if "email" in changed:
        registration.token = new_token()
        session.flush()
        if site is not None:
            queue_lost_links(session, site, registration.email, [(registration, event, waitlist_position(session, registration))])
    audit.record(
        session, actor, "registration.edit", event_id=registration.event_id, registration_id=registration.id,
        before={k: before[k] for k in changed}, after={k: after[k] for k in changed}, now=now,
    )
    return changed


@dataclass(frozen=True)
class Note:
    id: int
    text: str
    by: str
    created_at: datetime


def add_note(session: Session, actor: Actor, registration_id: int, text: str, *, now: datetime | None = None) -> RegistrationNote:
    """Add an internal note to a registration (organisers only ever see it)."""
    now = now or utcnow()
    registration = _registration(session, registration_id)
    note = RegistrationNote(registration_id=registration.id, organiser_id=actor.id, text=text.strip(), created_at=now)
    session.add(note)
    session.flush()
    audit.record(
        session, actor, "registration.note", event_id=registration.event_id, registration_id=registration.id,
        after={"note": f"added ({len(note.text)} characters)"}, now=now,
    )
    return note


def notes_of(session: Session, registration_id: int) -> list[Note]:
    """A registration's notes, oldest first, with who wrote each."""
    rows = session.execute(
        select(RegistrationNote, Organiser.name, Organiser.email)
        .outerjoin(Organiser, Organiser.id == RegistrationNote.organiser_id)
        .where(RegistrationNote.registration_id == registration_id)
        .order_by(RegistrationNote.id)
    )
    return [Note(note.id, note.text, name or email or "an organiser", note.created_at) for note, name, email in rows]


@dataclass(frozen=True)
class WalkIn:
    """What adding a walk-in did. `full` (nothing added): the event has no seat left and the
    organiser did not admit them over capacity. `existing` (nothing added): the address is
    registered for the event already. Otherwise `registration` is confirmed and checked in
    for `day`."""

    registration: Registration | None = None
    day: date | None = None
    over_capacity: bool = False
    full: bool = False
    confirmed: int = 0
    capacity: int | None = None
    existing: Registration | None = None


def add_walk_in(
    session: Session, site: Site, actor: Actor, slug: str, details: Details, *, over_capacity: bool = False,
    now: datetime | None = None,
) -> WalkIn:
    """Register someone who came to the door without registering: confirmed (whatever the
    programme's admission: the organiser decides at the door), given a check-in code and
    checked in for the event's day `now` falls on; emailed the usual confirmation with their
    manage link and ticket. The seat is counted as for everyone: with none left, nothing is
    added unless `over_capacity`, which is audited."""
    event = lock_event(session, slug)
    now = now or utcnow()
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition("This event is cancelled: nobody can be added or checked in.")
    email = normalise_email(details.email)
    existing = _other_with_email(session, event.id, email)
    if existing is not None:
        return WalkIn(existing=existing)
    confirmed = confirmed_count(session, event.id)
    left = seats_left(event, confirmed)
    full = left is not None and left <= 0
    if full and not over_capacity:
        return WalkIn(full=True, confirmed=confirmed, capacity=event.capacity)
    registration = Registration(
        event_id=event.id, email=email, name=details.name.strip(), organisation=details.organisation.strip(), answers={},
        status=S.CONFIRMED, token=new_token(), consented_at=now, confirmed_at=now, created_at=now, updated_at=now,
    )
    give_code(registration, session=session)
    session.add(registration)
    session.flush()
    day = day_of(event, now)
    after = {"status": S.CONFIRMED, "name": registration.name, "email": registration.email, "organisation": registration.organisation}
    if full:
        after["over capacity"] = f"admitted by the organiser with {confirmed} confirmed of {plural(event.capacity or 0, 'seat')}"
    audit.record(
        session, actor, "registration.walk_in", event_id=event.id, registration_id=registration.id,
        before={"status": None}, after=after, now=now,
    )
    admit(session, event, registration, at=now, door=WALK_IN_DOOR, organiser_id=actor.id)
    audit.record(
        session, actor, "registration.check_in", event_id=event.id, registration_id=registration.id,
        before={"checked_in_at": None}, after={"checked_in_at": registration.checked_in_at, "day": day.isoformat()}, now=now,
    )
    queue_registration_message(session, site, "confirmed", registration, event)
    return WalkIn(registration=registration, day=day, over_capacity=full, confirmed=confirmed + 1, capacity=event.capacity)


@dataclass(frozen=True)
class EditPage:
    registration: Registration
    event: Event


def edit_page(session: Session, registration_id: int) -> EditPage:
    """A registration and its event, for the page that corrects its details."""
    registration = _registration(session, registration_id)
    return EditPage(registration, session.get_one(Event, registration.event_id))

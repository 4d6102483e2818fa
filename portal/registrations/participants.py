"""What participants do: register (confirmed, waitlisted or held for approval), see their
registration through its private link, change their details, cancel.

Who gets a seat, and a place in a choice that has places, is decided by the seats module,
under the event's lock. A form that asks for a nominating officer's email sends that officer
a request to endorse the nomination (the endorsement module).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.db import utcnow
from portal.errors import EventFull, InvalidTransition, NotFound, RegistrationClosed, RegistrationErased
from portal.mail.messages import queue_registration_message
from portal.models import (
    ACTIVE_STATUSES,
    Admission,
    AuditActor,
    Endorsement,
    Event,
    EventStatus,
    Programme,
    Registration,
    RegistrationStatus,
    Upload,
    find_event,
)
from portal.questions.schema import FormDefinition, generic_upload_name
from portal.questions.store import definition_for_event
from portal.registrations import endorsement, sealed
from portal.registrations.availability import check_open
from portal.registrations.seats import (
    Pick,
    check_places,
    fill_session_places,
    hold_places,
    hold_sessions,
    lock_event_of,
    move_places,
    picks,
    plan_sessions,
    promote_from_waitlist,
    seats_left,
    waitlist_position,
)
from portal.registrations.tickets import give_code
from portal.site import Site
from portal.text import normalise_email

S = RegistrationStatus
# What the audit log says of a sensitive answer a participant changed, in place of its value.
_SENSITIVE_CHANGED = "(sensitive answer changed)"


@dataclass(frozen=True)
class StoredFile:
    """A file a participant sent for a file question, already checked (type from its content,
    size) and written under the upload directory as `stored_name` by the web layer. The
    answer kept under `key` is the file's name; the Upload row holds the rest. `sealed`: the
    web layer wrote it sealed with the data keys (a sensitive question's file)."""

    key: str
    filename: str
    content_type: str
    size: int
    stored_name: str
    sealed: bool = False


@dataclass(frozen=True)
class Submission:
    """What a participant typed, already checked for shape by the form: `answers` holds only
    the questions shown (a hidden conditional question's answer is dropped by the form)."""

    name: str
    email: str
    organisation: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    files: tuple[StoredFile, ...] = ()
    # The keys of the conference sessions chosen (those that take choices).
    sessions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What register() did. `created` is False when the email was already registered: the
    caller must answer exactly as for a new registration, so the page reveals nothing."""

    created: bool
    status: RegistrationStatus
    registration_id: int


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _rules(form: FormDefinition) -> FormDefinition | None:
    """The event's form, when it holds places or asks for a nominating officer (the only
    questions registering must act on); else None."""
    if form.nominator() is None and not any(q.has_places for q in form.live()):
        return None
    return form


def register(
    session: Session, site: Site, slug: str, submission: Submission, *, now: datetime | None = None
) -> Outcome:
    """Register an email for an event: confirm, waitlist or hold for approval."""
    # The event, locked, and its programme's admission in one statement: this runs for every
    # registration, and under a rush each statement is time the event's lock is held.
    event, programme = find_event(session, slug, lock=True)
    admission = programme.admission if programme else Admission.OPEN
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

    answers = dict(submission.answers)
    answers.update({f.key: f.filename for f in submission.files})
    # Read once for the places, the officer and which answers to seal (kept per form version).
    whole = definition_for_event(session, event)
    form = _rules(whole)
    wanted: set[Pick] = set()
    officer = None
    if form is not None:
        wanted = picks(form, answers)
        check_places(session, event.id, form, wanted)
        officer = endorsement.officer_email(form, answers)
    plan = plan_sessions(session, event.id, submission.sessions) if submission.sessions else None
    registration = Registration(
        event_id=event.id,
        email=email,
        name=submission.name.strip(),
        organisation=submission.organisation.strip(),
        status=status,
        token=new_token(),
        consented_at=now,
        confirmed_at=now if status == S.CONFIRMED else None,
        waitlisted_at=now if status == S.WAITLISTED else None,
        created_at=now,
        updated_at=now,
        endorsement=Endorsement.AWAITING if officer else None,
        endorsement_token=new_token() if officer else None,
    )
    # The sensitive answers sealed (a sensitive file's name among them), the rest as they are.
    sealed.store_answers(session, registration, whole, answers)
    if status == S.CONFIRMED:
        give_code(registration, session=session)
    session.add(registration)
    try:
        session.flush()
    except IntegrityError:
        # Only reachable if the database saw a duplicate the lock did not serialise; the
        # partial unique index is the last line of defence. The whole unit of work rolls back.
        raise RegistrationClosed("This email address is already registered for this event.") from None
    sensitive = whole.sensitive_keys()
    for stored in submission.files:
        # A sealed file's real name is a sealed answer: its row keeps a generic one.
        hidden = stored.sealed or stored.key in sensitive
        session.add(Upload(
            stored_name=stored.stored_name, registration_id=registration.id, event_id=event.id, question_key=stored.key,
            filename=generic_upload_name(stored.content_type) if hidden else stored.filename, content_type=stored.content_type,
            size=stored.size, sealed=stored.sealed, created_at=now,
        ))
    hold_places(session, registration, wanted)
    if plan is not None:
        hold_sessions(session, registration, plan, now=now)

    kind = {S.CONFIRMED: "confirmed", S.WAITLISTED: "waitlisted", S.PENDING: "received"}[status]
    # Under the event's lock the newcomer is last in the queue: everyone waitlisted before is
    # ahead (the same order waitlist_position counts in).
    queue_registration_message(
        session, site, kind, registration, event,
        position=counts.get(S.WAITLISTED, 0) + 1 if status == S.WAITLISTED else None,
        chosen_sessions=sorted(
            [(s, False) for s in plan.held] + [(s, True) for s in plan.waiting], key=lambda pair: (pair[0].starts_at, pair[0].id)
        ) if plan is not None else [],
    )
    if officer:
        endorsement.ask(session, site, registration, event, programme, officer)
    return Outcome(created=True, status=status, registration_id=registration.id)


ERASED = "This registration was erased at its owner's request, so its link opens nothing any more."


def erased_token(token: str) -> str:
    """What an erased registration's token becomes: a digest of the old one, so that the old
    link can say the registration was erased and nothing more. Longer than any token the
    portal gives (43 characters), so no link the portal wrote can ever be one."""
    return "erased-" + hashlib.sha256(token.encode()).hexdigest()[:48]


def find_by_token(session: Session, token: str) -> Registration:
    """The registration a private token opens, or NotFound (RegistrationErased for the link
    of a registration its owner erased)."""
    if not token or len(token) > 64 or "\x00" in token:
        raise NotFound("This link is not valid. Check that you copied all of it.")
    registration = session.scalar(select(Registration).where(Registration.token == token))
    # The lookup uses the index; the constant-time comparison guards the equality itself.
    if registration is None or not hmac.compare_digest(registration.token, token) or registration.anonymised_at is not None:
        if session.scalar(select(Registration.id).where(Registration.token == erased_token(token))) is not None:
            raise RegistrationErased(ERASED)
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


def _kept_answers(form: FormDefinition, old: dict[str, Any], registration: Registration, submitted: dict[str, Any]) -> dict[str, Any]:
    """The answers after an update: what the participant sent, except for the questions they
    may not change (not editable, retired, files, and the nominating officer once asked),
    whose answers stay as they were (`old`, the sealed ones with the rest) whatever was sent."""
    fixed = {q.key for q in form.questions if q.asks and (q.retired or not q.editable or q.type == "file")}
    nominator = form.nominator()
    if nominator is not None and registration.endorsement is not None:
        fixed.add(nominator.key)
    answers = {k: v for k, v in submitted.items() if k not in fixed}
    answers.update({k: old[k] for k in fixed if k in old})
    return answers


def _still_held(registration: Registration) -> None:
    """Refuse to change a registration anonymised while the change waited for its lock."""
    if registration.anonymised_at is not None:
        raise RegistrationErased(ERASED)


def details_fixed(registration: Registration, event: Event, now: datetime) -> str | None:
    """Why the participant can no longer change their details, in words; None while they can."""
    if registration.status not in ACTIVE_STATUSES:
        return "This registration is no longer active, so its details cannot change."
    if event.status == EventStatus.CANCELLED:
        return "The organisers have cancelled this event, so your registration ended with it."
    if now >= event.ends_at:
        return "This event has ended; contact the organisers to change your details."
    if now >= event.starts_at:
        return "This event has started; contact the organisers to change your details."
    return None


def update_details(session: Session, token: str, submission: Submission, *, now: datetime | None = None) -> None:
    """Change the name, organisation and the answers the participant may change (the email
    is the identity); a changed choice with places takes its place anew, or ChoiceFull. What
    changed goes in the audit log as the participant's change."""
    now = now or utcnow()
    registration = find_by_token(session, token)
    event = lock_event_of(session, registration)
    _still_held(registration)
    fixed = details_fixed(registration, event, now)
    if fixed is not None:
        raise InvalidTransition(fixed)
    form = definition_for_event(session, event)
    was_sealed = sealed.sensitive_answers(session, registration)
    old = {**(registration.answers or {}), **was_sealed}
    answers = _kept_answers(form, old, registration, dict(submission.answers))
    move_places(session, form, registration, answers)
    # The log names a sensitive answer that changed, never its value (the log is shown on
    # more pages than the registration's, and is not sealed).
    hidden = form.sensitive_keys() | was_sealed.keys()

    def fields(given: dict[str, Any]) -> dict[str, Any]:
        # Answers under their own keys, unless one is named like the fields beside them.
        answers = {f"answer: {k}" if k in ("name", "organisation") else k: v for k, v in given.items()}
        return {"name": registration.name, "organisation": registration.organisation, **answers}

    before = fields(old)
    registration.name = submission.name.strip()
    registration.organisation = submission.organisation.strip()
    sealed.store_answers(session, registration, form, answers)
    registration.updated_at = now
    after = fields(answers)
    changed = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    if changed:
        masked = {k for k in changed if k.removeprefix("answer: ") in hidden} - {"name", "organisation"}

        def shown(values: dict[str, Any]) -> dict[str, Any]:
            return {k: _SENSITIVE_CHANGED if k in masked else values.get(k) for k in changed}

        audit.record(
            session, None, "registration.update", event_id=registration.event_id, registration_id=registration.id,
            before=shown(before), after=shown(after), now=now, by=AuditActor.PARTICIPANT,
        )


def cancel(session: Session, site: Site, token: str, *, now: datetime | None = None) -> Registration:
    """The participant cancels; a confirmed seat goes at once to the first on the waiting list."""
    now = now or utcnow()
    registration = find_by_token(session, token)
    event = lock_event_of(session, registration)
    _still_held(registration)
    if registration.status not in ACTIVE_STATUSES:
        raise InvalidTransition("This registration is already cancelled or closed.")
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition("The organisers have cancelled this event, so your registration ended with it: there is nothing more to do.")
    if now >= event.starts_at:
        raise InvalidTransition("This event has started; contact the organisers to change your registration.")
    release(session, site, registration, event, now=now)
    return registration


def release(session: Session, site: Site, registration: Registration, event: Event, *, now: datetime, tell: bool = True) -> None:
    """Cancel an active registration as its owner asked, at its event locked (lock_event_of):
    its seat goes to the first on the waiting list, its sessions' places to those waiting for
    them. `tell`: email the owner that it is cancelled (not to someone who asked to be erased)."""
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
    if tell:
        queue_registration_message(session, site, "cancelled", registration, event, held_seat=was == S.CONFIRMED)
    if was == S.CONFIRMED:
        promote_from_waitlist(session, site, None, event, now=now, by=AuditActor.PORTAL)
    # Its sessions' places are free now, whatever its status was.
    fill_session_places(session, site, event, now=now)

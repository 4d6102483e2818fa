"""A participant's erasure of everything held about their address, asked for from any of
its registrations' private links.

Every registration of the address goes one of three ways, decided under its event's lock:
- active at an event that has not ended (and is not cancelled): cancelled as the participant
  cancels (seat to the waiting list, session places to those waiting), then anonymised;
- otherwise anonymised (anonymise.anonymise), its status and dates kept for the statistics;
- attendance of a completed programme (the event has ended and they were checked in, or hold
  a certificate) is the organisers' record: it keeps the name, organisation, status, check-ins
  and certificates, and loses everything else (email, answers, files, notes, links), marked
  with the reason.
The address's subscription to new events, if any, is deleted too, and every message to the
address still kept or queued. All in one transaction,
so there is never a half-erased registration; no email is sent to the address (its owner
asked to be forgotten); the audit log records each step with ids and outcomes, no personal
data. The files are the caller's to delete once the transaction has committed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from portal import audit
from portal.db import utcnow
from portal.models import (
    ACTIVE_STATUSES,
    AuditActor,
    Certificate,
    CheckIn,
    Event,
    EventStatus,
    OutboxMessage,
    Registration,
    Subscriber,
)
from portal.questions.store import definition_for_event
from portal.registrations import participants
from portal.registrations.anonymise import anonymise, forget_limits
from portal.registrations.owndata import registrations_of
from portal.registrations.participants import erased_token, find_by_token
from portal.registrations.seats import lock_event_of
from portal.site import Site

KEPT_REASON = "Attendance of a completed programme, kept as the programme's record"


class Outcome(enum.StrEnum):
    CANCEL = "cancel"  # cancelled (its seat freed), then anonymised
    ANONYMISE = "anonymise"
    KEEP = "keep"  # the attendance kept, the rest removed


@dataclass(frozen=True)
class Step:
    """What erasure does (or did) to one registration; `event` is shown, it is not personal."""

    registration_id: int
    event: Event
    status: str  # the registration's status before
    outcome: Outcome


@dataclass(frozen=True)
class Plan:
    steps: list[Step]
    subscription: bool  # the address has a subscription to new events


@dataclass(frozen=True)
class Erased:
    steps: list[Step]
    subscription: bool
    stored_files: tuple[str, ...]  # to delete once the transaction has committed


def _attended(session: Session, registration: Registration) -> bool:
    if registration.checked_in_at is not None:
        return True
    checked_in = exists().where(CheckIn.registration_id == registration.id)
    certified = exists().where(Certificate.registration_id == registration.id)
    return bool(session.scalar(select(checked_in | certified)))


def outcome_of(session: Session, registration: Registration, event: Event, now: datetime) -> Outcome:
    """What erasure does to a registration (read again under its event's lock before acting)."""
    ended = now >= event.ends_at
    if ended and _attended(session, registration):
        return Outcome.KEEP
    if registration.status in ACTIVE_STATUSES and not ended and event.status != EventStatus.CANCELLED:
        return Outcome.CANCEL
    return Outcome.ANONYMISE


def plan(session: Session, token: str, *, now: datetime | None = None) -> Plan:
    """What erasing the address of the registration `token` opens would do."""
    now = now or utcnow()
    email = find_by_token(session, token).email
    steps = []
    for registration in registrations_of(session, email):
        event = session.get_one(Event, registration.event_id)
        steps.append(Step(registration.id, event, str(registration.status), outcome_of(session, registration, event, now)))
    has_subscription = session.scalar(select(Subscriber.id).where(Subscriber.email == email)) is not None
    return Plan(steps, has_subscription)


def erase(session: Session, site: Site, token: str, *, now: datetime | None = None) -> Erased:
    """Erase what is held about the address of the registration `token` opens, as planned."""
    email = find_by_token(session, token).email
    # Events locked in id order, as every erasure takes them: two never wait on each other.
    registrations = sorted(registrations_of(session, email), key=lambda r: (r.event_id, r.id))
    steps: list[Step] = []
    stored: list[str] = []
    for registration in registrations:
        event = lock_event_of(session, registration)
        # The clock is read under the lock, as the participant's cancel reads it.
        at = now or utcnow()
        if registration.anonymised_at is not None or registration.email != email:
            continue  # anonymised meanwhile (retention, an organiser): nothing left to erase
        was = str(registration.status)
        outcome = outcome_of(session, registration, event, at)
        if outcome == Outcome.CANCEL:
            participants.release(session, site, registration, event, now=at, tell=False)
        old_token = registration.token
        name, organisation = registration.name, registration.organisation
        done = anonymise(
            session, registration, definition_for_event(session, event), now=at,
            kept_reason=KEPT_REASON if outcome == Outcome.KEEP else "",
        )
        if outcome == Outcome.KEEP:
            registration.name, registration.organisation = name, organisation
        # The old link says the registration was erased, and opens nothing.
        registration.token = erased_token(old_token)
        stored.extend(done.stored_files)
        audit.record(
            session, None, "registration.erase", event_id=event.id, registration_id=registration.id,
            before={"status": was}, after={"status": str(registration.status), "kept": outcome == Outcome.KEEP, "anonymised": True},
            now=at, by=AuditActor.PARTICIPANT,
        )
        session.flush()
        steps.append(Step(registration.id, event, was, outcome))
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email).with_for_update())
    if subscriber is not None:
        audit.record(session, None, "subscriber.erase", before={"subscriber": subscriber.id}, now=now or utcnow(), by=AuditActor.PARTICIPANT)
        session.delete(subscriber)
    # What is still queued or kept for the address about no registration (an announcement to
    # the subscription, a lost-link email whose links are dead now) goes too: the messages
    # about each registration went with it (anonymise).
    session.execute(
        delete(OutboxMessage).where(OutboxMessage.to_address == email, OutboxMessage.registration_id.is_(None))
        .execution_options(synchronize_session=False)
    )
    forget_limits(session, email)
    session.flush()
    return Erased(steps, subscriber is not None, tuple(stored))

"""An event's follow-up in the back office: a message a chosen time after the end, to those
checked in (or, when no one was, to every confirmed registrant), set, changed or removed
until it starts going out. The worker (mail.mailings) sends it, once, under the mailing key
mail.mailings.followup_key; once that mailing exists, the follow-up is what was sent and stays
as it is.

Saving a follow-up whose time has passed sends it at the worker's next look (within a
minute): that is never done silently, but only once the organiser has confirmed it, knowing
how many it goes to (SendsAtOnce).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import Actor, record
from portal.catalogue.reminders import checked_followup
from portal.db import utcnow
from portal.errors import InvalidInput, InvalidTransition
from portal.mail.mailings import followup_key
from portal.mail.planner import FOLLOWUP_STALE
from portal.models import Event, EventStatus, Mailing, Registration, RegistrationStatus, event_by_slug
from portal.registrations.seats import confirmed_count, lock_event
from portal.text import parse_duration

# How much of the body the audit log keeps: enough to recognise it.
_AUDIT_BODY = 200


class SendsAtOnce(InvalidTransition):
    """Saving this follow-up would send it at once, as its time has passed: the organiser
    must confirm, knowing to how many it goes (`recipients`, counted now)."""

    def __init__(self, due_at: datetime, recipients: int, checked_in: bool) -> None:
        people = f"{recipients} person" if recipients == 1 else f"{recipients} people"
        super().__init__(f"Its time has passed: saved, it goes out within a minute to {people}. Confirm to send it.")
        self.due_at = due_at
        self.recipients = recipients
        self.checked_in = checked_in


@dataclass(frozen=True)
class FollowupState:
    """What the follow-up page shows."""

    event: Event
    followup: dict[str, str] | None
    # When it is due: the end plus its `after`.
    due_at: datetime | None
    # Its mailing, once the worker has begun to send it: then it can no longer change.
    mailing: Mailing | None
    checked_in: int
    confirmed: int
    now: datetime

    @property
    def locked(self) -> bool:
        return self.mailing is not None

    @property
    def late(self) -> bool:
        """Its time has passed and it has not gone out: the worker sends it when it next looks."""
        return self.due_at is not None and self.due_at <= self.now and not self.locked

    @property
    def stale(self) -> bool:
        """So late that the worker will not send it (mail.planner.FOLLOWUP_STALE)."""
        return self.late and self.due_at is not None and self.now - self.due_at > FOLLOWUP_STALE

    @property
    def recipients(self) -> int:
        """Who it would go to now: those checked in, or every confirmed registrant if none was."""
        return self.checked_in or self.confirmed

    @property
    def audience(self) -> dict[str, object]:
        """Who it would go to now, as an organiser's message picks its recipients
        (mail.letters.validate_audience): for a test as the first of them will get it."""
        return {"statuses": ["confirmed"], "checked_in": True if self.checked_in else None, "question": None, "answer": None}


def followup_mailing(session: Session, event: Event) -> Mailing | None:
    """The event's follow-up mailing, once the worker has made it."""
    return session.scalar(select(Mailing).where(Mailing.key == followup_key(event.id)))


def due_at(event: Event) -> datetime | None:
    """When the event's follow-up goes out, if it has one."""
    if not event.followup:
        return None
    return event.ends_at + parse_duration(event.followup["after"])


def _checked_in(session: Session, event: Event) -> int:
    return session.scalar(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == event.id, Registration.status == RegistrationStatus.CONFIRMED,
            Registration.checked_in_at.is_not(None),
        )
    ) or 0


def followup_state(session: Session, slug: str, *, now: datetime | None = None) -> FollowupState:
    """The event's follow-up, whether it went out, and how many it goes to."""
    now = now or utcnow()
    event = event_by_slug(session, slug)
    return FollowupState(
        event, event.followup, due_at(event), followup_mailing(session, event), _checked_in(session, event),
        confirmed_count(session, event.id), now,
    )


def sends_at_once(event: Event, due: datetime, now: datetime) -> bool:
    """Whether a follow-up due at `due` goes out as soon as it is saved: the event is
    published (the worker sends no other's) and its time has passed, but not so long ago
    that the worker leaves it unsent (FOLLOWUP_STALE)."""
    return event.status == EventStatus.PUBLISHED and due <= now and now - due <= FOLLOWUP_STALE


def _changeable(session: Session, slug: str) -> Event:
    # The event's row is held until the end of the transaction, so the check below and the
    # change are one step against a worker that makes the mailing at the same moment (when
    # it too takes the row).
    event = lock_event(session, slug)
    mailing = followup_mailing(session, event)
    if mailing is not None:
        raise InvalidTransition("The follow-up has gone out already, so it cannot change any more.")
    return event


def _audited(followup: dict[str, str] | None) -> dict[str, Any]:
    if not followup:
        return {"follow_up": None}
    body = followup["body"]
    return {
        "follow_up_after": followup["after"],
        "follow_up_subject": followup["subject"],
        "follow_up_body": body if len(body) <= _AUDIT_BODY else body[:_AUDIT_BODY] + "\u2026",
    }


def set_followup(
    session: Session, actor: Actor, slug: str, after: str, subject: str, body: str,
    *, send_now: int | None = None, now: datetime | None = None,
) -> Event:
    """Set or change the event's follow-up; InvalidInput saying what to fix. One whose time
    has passed goes out at once, so it is saved only with `send_now` the number of people it
    goes to now; otherwise (or if that number has changed) SendsAtOnce says how many."""
    now = now or utcnow()
    event = _changeable(session, slug)
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition("The event is cancelled: no follow-up is sent.")
    try:
        followup = checked_followup(after, subject, body)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    due = event.ends_at + parse_duration(followup["after"])
    if sends_at_once(event, due, now):
        checked_in = _checked_in(session, event)
        recipients = checked_in or confirmed_count(session, event.id)
        if send_now != recipients:
            raise SendsAtOnce(due, recipients, bool(checked_in))
    if followup == event.followup:
        return event
    before = _audited(event.followup)
    event.followup = followup
    event.updated_at = now
    record(session, actor, "event.followup", event_id=event.id, before=before, after=_audited(followup), now=now)
    return event


def remove_followup(session: Session, actor: Actor, slug: str, *, now: datetime | None = None) -> Event:
    """Remove the event's follow-up, before it goes out."""
    now = now or utcnow()
    event = _changeable(session, slug)
    if event.followup is None:
        return event
    before = _audited(event.followup)
    record(session, actor, "event.followup_remove", event_id=event.id, before=before, after={"follow_up": None}, now=now)
    event.followup = None
    event.updated_at = now
    return event

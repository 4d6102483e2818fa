"""What the back office's event page says of the email an event sends by itself (its
reminders, its follow-up, its announcement to subscribers), and announcing it again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import Actor, record
from portal.catalogue.followup import due_at, followup_mailing
from portal.catalogue.reminders import ReminderSchedule, reminder_schedule
from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.mail.mailings import announce_event, can_announce_again
from portal.models import Event, Mailing, event_by_slug
from portal.registrations.seats import lock_event


@dataclass(frozen=True)
class EventMail:
    event: Event
    reminders: ReminderSchedule
    followup_subject: str | None
    followup_due_at: datetime | None
    followup_mailing: Mailing | None
    can_announce_again: bool
    # When the organiser asked for the one re-announcement, if they did.
    announced_again_at: datetime | None
    now: datetime


def event_mail(session: Session, slug: str, default_reminders: Sequence[str], *, now: datetime | None = None) -> EventMail:
    """The event's reminder schedule (its own or the site's `default_reminders`), its
    follow-up, and whether it may be announced to subscribers again."""
    now = now or utcnow()
    event = event_by_slug(session, slug)
    again = session.scalar(select(Mailing.created_at).where(Mailing.key == f"reannounce:{event.id}"))
    return EventMail(
        event,
        reminder_schedule(event, default_reminders),
        event.followup["subject"] if event.followup else None,
        due_at(event),
        followup_mailing(session, event),
        can_announce_again(session, event, now=now),
        again,
        now,
    )


def announce_again(session: Session, actor: Actor, slug: str, *, now: datetime | None = None) -> Mailing:
    """Announce a changed event to its subscribers once more (once only), as the worker
    announces a newly published one."""
    now = now or utcnow()
    event: Event = lock_event(session, slug)
    if not can_announce_again(session, event, now=now):
        raise InvalidTransition(
            "This event cannot be announced again: only a published event that has not ended, was announced "
            "when it was published, and has not been announced again already."
        )
    mailing = announce_event(session, event, again=True, now=now)
    if mailing is None:  # a second click that got here first
        raise InvalidTransition("This event has been announced again already.")
    record(session, actor, "event.reannounce", event_id=event.id, after={"announced_again": True}, now=now)
    return mailing

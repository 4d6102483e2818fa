"""What the back office's event page says of the email an event sends by itself (its
reminders and whether each has gone, its follow-up, its announcement to subscribers), and
announcing it again (after a page that says how many subscribers that reaches)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from portal.audit import Actor, record
from portal.catalogue.followup import due_at, followup_mailing
from portal.catalogue.reminders import ReminderSchedule, duration_words, reminder_schedule
from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.mail.audiences import wants
from portal.mail.mailings import announce_event, can_announce_again
from portal.mail.planner import FOLLOWUP_STALE
from portal.models import Event, Frequency, Mailing, MailingKind, Programme, Subscriber, event_by_slug
from portal.registrations.seats import lock_event
from portal.text import format_duration, parse_duration


@dataclass(frozen=True)
class ReminderState:
    """One reminder and what became of it."""

    duration: str  # as stored: P2D
    words: str  # 2 days
    at: datetime | None  # when it is due; None for one sent that is no longer in the schedule
    # Its mailings, oldest first: a second when it went again after the event was postponed.
    mailings: list[Mailing]


@dataclass(frozen=True)
class EventMail:
    event: Event
    reminders: ReminderSchedule
    reminder_states: list[ReminderState]
    followup_subject: str | None
    followup_due_at: datetime | None
    followup_mailing: Mailing | None
    can_announce_again: bool
    # When the organiser asked for the one re-announcement, if they did.
    announced_again_at: datetime | None
    now: datetime

    @property
    def followup_stale(self) -> bool:
        """Its time passed so long ago that the worker will not send it (mail.planner)."""
        return self.followup_due_at is not None and self.now - self.followup_due_at > FOLLOWUP_STALE


def _reminder_mailings(session: Session, event: Event) -> dict[timedelta, list[Mailing]]:
    """The event's reminder mailings by offset, oldest first. A key is reminder:{event}:{offset},
    with :{start} after it when the reminder went again for a postponed event
    (mail.mailings.reminder_key); the offset is read as a duration, so however it was
    spelt when it was sent it finds its reminder."""
    prefix = f"reminder:{event.id}:"
    found: dict[timedelta, list[Mailing]] = {}
    rows = session.scalars(
        select(Mailing).where(Mailing.event_id == event.id, Mailing.kind == MailingKind.REMINDER).order_by(Mailing.created_at, Mailing.id)
    )
    for mailing in rows:
        if not mailing.key.startswith(prefix):
            continue
        try:
            offset = parse_duration(mailing.key[len(prefix):].split(":", 1)[0])
        except ValueError:
            continue
        found.setdefault(offset, []).append(mailing)
    return found


def reminder_states(session: Session, event: Event, schedule: ReminderSchedule) -> list[ReminderState]:
    """Each reminder of the schedule with its mailings, then any sent that the schedule no
    longer has (it was changed after they went)."""
    sent = _reminder_mailings(session, event)
    states = [ReminderState(r.duration, r.words, r.at, sent.pop(parse_duration(r.duration), [])) for r in schedule.reminders]
    states += [ReminderState(format_duration(d), duration_words(d), None, sent[d]) for d in sorted(sent, reverse=True)]
    return states


def event_mail(session: Session, slug: str, default_reminders: Sequence[str], *, now: datetime | None = None) -> EventMail:
    """The event's reminder schedule (its own or the site's `default_reminders`) and what
    became of each reminder, its follow-up, and whether it may be announced to subscribers
    again."""
    now = now or utcnow()
    event = event_by_slug(session, slug)
    again = session.scalar(select(Mailing.created_at).where(Mailing.key == f"reannounce:{event.id}"))
    schedule = reminder_schedule(event, default_reminders)
    return EventMail(
        event,
        schedule,
        reminder_states(session, event, schedule),
        event.followup["subject"] if event.followup else None,
        due_at(event),
        followup_mailing(session, event),
        can_announce_again(session, event, now=now),
        again,
        now,
    )


@dataclass(frozen=True)
class AnnounceReach:
    """Whom announcing the event again would reach now."""

    event: Event
    allowed: bool  # can_announce_again
    each: int  # confirmed subscribers to each new event whose choices include this one: emailed now
    weekly: int  # confirmed weekly subscribers whose choices include it: in their next digest
    announced_again_at: datetime | None


def subscribers_reached(session: Session, event: Event) -> dict[Frequency, int]:
    """How many confirmed subscribers of each frequency the event's announcement reaches: those
    whose programmes and categories include it, by the fan-out's own rule (mail.audiences).
    Counted per distinct choice, so a list of 50,000 subscribers is a handful of rows."""
    programme = session.get(Programme, event.programme_id) if event.programme_id else None
    code = programme.code if programme else None
    rows = session.execute(
        select(Subscriber.frequency, cast(Subscriber.programmes, Text), cast(Subscriber.categories, Text), func.count())
        .where(Subscriber.confirmed_at.is_not(None))
        .group_by(Subscriber.frequency, cast(Subscriber.programmes, Text), cast(Subscriber.categories, Text))
    )
    reached = dict.fromkeys(Frequency, 0)
    for frequency, programmes, categories, n in rows:
        choice = SimpleNamespace(programmes=json.loads(programmes or "[]"), categories=json.loads(categories or "[]"))
        if wants(choice, code, event.category):
            reached[Frequency(frequency)] += n
    return reached


def announce_again_reach(session: Session, slug: str, *, now: datetime | None = None) -> AnnounceReach:
    """Whether the event may be announced again, and how many subscribers that would reach now."""
    now = now or utcnow()
    event = event_by_slug(session, slug)
    reached = subscribers_reached(session, event)
    again = session.scalar(select(Mailing.created_at).where(Mailing.key == f"reannounce:{event.id}"))
    return AnnounceReach(event, can_announce_again(session, event, now=now), reached[Frequency.EACH], reached[Frequency.WEEKLY], again)


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
    reached = subscribers_reached(session, event)
    after = {"announced_again": True, "subscribers": reached[Frequency.EACH], "digest_subscribers": reached[Frequency.WEEKLY]}
    record(session, actor, "event.reannounce", event_id=event.id, after=after, now=now)
    return mailing

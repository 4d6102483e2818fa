"""Finding what is due: the reminders before upcoming events, the follow-ups after ended
ones, and the week's digest. Each becomes a mailing under a key that names it, so however
often the worker looks (and however many workers look), each is made once.

A reminder is due at its event's start less its offset, reckoned from the start as it is
when the worker looks: an event moved before its reminder went follows its new time. One
moved after keeps the reminder already sent (its registrants had the change by email) unless
it was postponed by more than the reminder's own lead, when the reminder goes again before
the new date.
A reminder found due after the event started is not sent; one found late but before the
start is, to those registered before it was due.
"""

from __future__ import annotations

import logging
import threading
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.db import transaction, utcnow
from portal.mail.audiences import ListOptions
from portal.mail.mailings import FAN_OUT_BATCH, fan_out_due, followup_key, reminder_key, schedule
from portal.models import Event, EventStatus, Mailing, MailingKind
from portal.site import Site
from portal.text import parse_duration

if TYPE_CHECKING:  # only its attributes are read: the domain imports nothing of Starlette's
    from portal.settings import Settings

log = logging.getLogger("portal.mail")

# The longest reminder offset the planner looks ahead for (imports refuse longer ones).
MAX_REMINDER = timedelta(days=90)
# A follow-up found due this long after it was due is not sent: the portal was off, or the
# follow-up was set long after the event, and a message out of the blue helps nobody.
FOLLOWUP_STALE = timedelta(days=30)
# The digest goes out on its weekday from this local hour.
DIGEST_HOUR = time(8, 0)


@dataclass(frozen=True)
class Schedule:
    """The site's defaults the planner applies."""

    reminders: tuple[str, ...] = ("P2D",)
    digest_weekday: int = 0
    timezone: str = "Asia/Singapore"


def reminder_offsets(event: Event, defaults: tuple[str, ...]) -> list[tuple[str, timedelta]]:
    """An event's reminders as (ISO 8601 duration, offset before the start), its own or the
    site's default; a value that cannot be read is left out."""
    offsets = []
    for text in defaults if event.reminders is None else event.reminders:
        try:
            offsets.append((text, parse_duration(text)))
        except ValueError:
            continue
    return offsets


def plan_reminders(session: Session, schedule_: Schedule, now: datetime) -> int:
    """Make the mailings of the reminders due by now."""
    events = session.scalars(
        select(Event).where(Event.status == EventStatus.PUBLISHED, Event.starts_at > now, Event.starts_at <= now + MAX_REMINDER)
    ).all()
    # When each of these events' reminders last came due, by (event, offset).
    made: dict[tuple[int, str], datetime] = {}
    if events:
        for key, due in session.execute(
            select(Mailing.key, Mailing.due_at).where(Mailing.kind == MailingKind.REMINDER, Mailing.event_id.in_([e.id for e in events]))
        ):
            _, event_id, offset = key.split(":")[:3]
            made[(int(event_id), offset)] = max(due, made.get((int(event_id), offset), due))
    wanted: dict[str, tuple[Event, datetime]] = {}
    for event in events:
        for text, offset in reminder_offsets(event, schedule_.reminders):
            due = event.starts_at - offset
            if due > now:
                continue
            last = made.get((event.id, text))
            if last is None:
                wanted[reminder_key(event.id, text)] = (event, due)
            elif due - last > offset:
                # Postponed by more than the reminder's own lead since it went: the reminder
                # sent then came too early to remind anyone of the new date, so it goes again.
                wanted[reminder_key(event.id, text, event.starts_at)] = (event, due)
    return _make(session, MailingKind.REMINDER, wanted, now)


def plan_followups(session: Session, now: datetime) -> int:
    """Make the mailings of the follow-ups due by now."""
    ended = session.scalars(
        select(Event).where(Event.status == EventStatus.PUBLISHED, Event.ends_at <= now, Event.ends_at > now - FOLLOWUP_STALE - MAX_REMINDER)
    ).all()
    due_ids = [event.id for event in ended if _followup_due(event, now) is not None]
    if not due_ids:
        return 0
    # Locked (in one order, so two workers never deadlock), as the follow-up page and imports
    # lock an event to change its follow-up: the mailing is made either before an edit (which
    # then refuses) or after it (and sends the edit). Read again under the lock.
    wanted: dict[str, tuple[Event, datetime]] = {}
    for event in session.scalars(
        select(Event).where(Event.id.in_(due_ids), Event.status == EventStatus.PUBLISHED).order_by(Event.id).with_for_update()
        .execution_options(populate_existing=True)
    ):
        due = _followup_due(event, now)
        if due is not None:
            wanted[followup_key(event.id)] = (event, due)
    return _make(session, MailingKind.FOLLOWUP, wanted, now)


def _followup_due(event: Event, now: datetime) -> datetime | None:
    """When the event's follow-up came due, if it has and is not stale; else None."""
    if not event.followup:
        return None
    try:
        due = event.ends_at + parse_duration(event.followup.get("after") or "PT0S")
    except ValueError:
        return None
    return due if due <= now and now - due <= FOLLOWUP_STALE else None


def _make(session: Session, kind: MailingKind, wanted: dict[str, tuple[Event, datetime]], now: datetime) -> int:
    if not wanted:
        return 0
    made = set(session.scalars(select(Mailing.key).where(Mailing.key.in_(list(wanted)))))
    count = 0
    for key, (event, due) in wanted.items():
        if key not in made and schedule(session, kind, key, event_id=event.id, due_at=due, now=now) is not None:
            count += 1
    return count


def digest_due(schedule_: Schedule, now: datetime) -> tuple[str, datetime] | None:
    """The key and due time of this week's digest once its weekday and hour have come in
    the site's zone, else None."""
    zone = ZoneInfo(schedule_.timezone)
    local = now.astimezone(zone)
    days_since = (local.weekday() - schedule_.digest_weekday) % 7
    day = local.date() - timedelta(days=days_since)
    due = datetime.combine(day, DIGEST_HOUR, tzinfo=zone)
    if due > now:
        # Its hour has not come yet today: this week's digest is last week's day.
        day -= timedelta(days=7)
        due = datetime.combine(day, DIGEST_HOUR, tzinfo=zone)
    return f"digest:{day.isoformat()}", due.astimezone(ZoneInfo("UTC"))


def plan_digest(session: Session, schedule_: Schedule, now: datetime) -> int:
    """Make this week's digest's mailing once its time has come."""
    key, due = digest_due(schedule_, now) or (None, None)
    if key is None or due is None or now - due > timedelta(days=1):
        # Found more than a day late (the worker was off): skip it rather than send a digest
        # of a week that is nearly over; next week's covers its own week.
        return 0
    return int(schedule(session, MailingKind.DIGEST, key, due_at=due, now=now) is not None)


def plan_due(session: Session, schedule_: Schedule, *, now: datetime | None = None) -> int:
    """Make every mailing that is due by now and not made yet; returns how many."""
    now = now or utcnow()
    return plan_reminders(session, schedule_, now) + plan_followups(session, now) + plan_digest(session, schedule_, now)


class MailingWork:
    """The worker's share of mailings, one call a round: every `plan_every` seconds find what
    has come due, then fan out a few batches. Returns how many batches it wrote, so that the
    worker keeps going while there is more."""

    def __init__(
        self, sessions: sessionmaker[Session], site: Site, options: ListOptions, schedule_: Schedule,
        *, plan_every: float = 30.0, batch: int = FAN_OUT_BATCH, now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.site = site
        self.options = options
        self.schedule = schedule_
        self.plan_every = plan_every
        self.batch = batch
        self.now = now
        self._planned = float("-inf")

    def __call__(self, stop: threading.Event | None = None) -> int:
        if time_module.monotonic() - self._planned >= self.plan_every:
            self._planned = time_module.monotonic()
            with transaction(self.sessions, write=True) as session:
                made = plan_due(session, self.schedule, now=self.now())
            if made:
                log.info("worker: %d mailings came due", made)
        return fan_out_due(self.sessions, self.site, self.options, now=self.now, limit=self.batch, rounds=5, stop=stop)


def mailing_work(settings: Settings, sessions: sessionmaker[Session]) -> MailingWork:
    """The mailings' share of the worker, as the settings configure it."""
    site = Site(base_url=settings.base_url, mail_from=settings.mail_from, timezone=settings.timezone)
    schedule_ = Schedule(reminders=settings.reminders, digest_weekday=settings.digest_weekday, timezone=settings.timezone)
    return MailingWork(sessions, site, ListOptions(list_mailbox=settings.list_mailbox), schedule_, batch=settings.fan_out_batch)

"""The back office's events: create, edit, publish, unpublish, cancel and duplicate them.

Edits go through imports.apply_event_values, so the iCalendar SEQUENCE rises exactly as it
does for imports. Registrants hear about a change of time or place, and about a cancellation,
through the outbox in the same transaction.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.audit import Actor, diff, plain, record
from portal.catalogue.imports import SCHEDULE_FIELDS, apply_event_values
from portal.catalogue.programmes import list_programmes
from portal.catalogue.records import known_zone
from portal.catalogue.reminders import normalise_reminders
from portal.db import utcnow
from portal.errors import AlreadyExists, InvalidInput, InvalidTransition
from portal.mail.mailings import announce_event
from portal.mail.messages import queue_registration_message
from portal.models import ACTIVE_STATUSES, Event, EventStatus, Programme, Registration, event_by_slug
from portal.registrations.attendance import checked_rule, number_of_days
from portal.registrations.seats import active_count, confirmed_count, lock_event, promote_from_waitlist
from portal.site import Site
from portal.text import SLUG, slug_from

# What registrants are told about when it changes: the time and the place.
NOTIFY_FIELDS = tuple(f for f in SCHEDULE_FIELDS if f != "status")
_BATCH = 500
_TIME_COLUMNS = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")


class Keep(enum.Enum):
    """A value the form did not send: the event keeps what it has."""

    KEEP = "keep"


@dataclass(frozen=True)
class EventValues:
    """An event's editable fields, already shaped by the form; times are aware."""

    title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str = "Asia/Singapore"
    programme_code: str | None = None
    category: str = "seminar"
    all_day: bool = False
    venue: str = ""
    address: str = ""
    online_url: str | None = None
    capacity: int | None = None
    waitlist: bool = True
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    description: str = ""
    speakers: list[str] = field(default_factory=list)
    # ISO 8601 durations before the start; None: the site's default; KEEP: as it is (a new
    # event: the default).
    reminders: list[str] | None | Keep = Keep.KEEP
    # Who earns a certificate of attendance: {"days": n}, {"share": 0.8}, None (every day);
    # KEEP: as it is (a new event: every day).
    certificate_rule: dict[str, Any] | None | Keep = Keep.KEEP


@dataclass(frozen=True)
class EventForm:
    """What the edit form needs: the event (None for a new one) and the programmes to pick from."""

    event: Event | None
    programme_code: str | None
    programmes: list[Programme]
    categories: list[str] = field(default_factory=list)


def event_form(session: Session, slug: str | None = None) -> EventForm:
    programmes = list_programmes(session)
    categories = known_categories(session)
    if slug is None:
        return EventForm(None, None, programmes, categories)
    event = event_by_slug(session, slug)
    code = next((p.code for p in programmes if p.id == event.programme_id), None)
    return EventForm(event, code, programmes, categories)


# Offered in the event form beside the categories events already have.
USUAL_CATEGORIES = ("seminar", "webinar", "conference", "course", "workshop", "forum", "lecture", "book-launch")


def known_categories(session: Session) -> list[str]:
    """The categories to offer: the usual ones and every one an event has, in order."""
    used = session.scalars(select(Event.category).distinct())
    return sorted({*USUAL_CATEGORIES, *(c for c in used if c)})


def proposed_slug(session: Session, title: str) -> str:
    """A URL slug for a new event made from its title, free: "tatc-march-2027", or
    "tatc-march-2027-2" when that one is taken; "event" for a title with no Latin letters."""
    return free_slug(session, slug_from(title) or "event")


def free_slug(session: Session, slug: str) -> str:
    """`slug` if no event has it, else the first of slug-2, slug-3, … that none has."""
    base = slug[:110]
    taken = set(session.scalars(select(Event.slug).where(or_(Event.slug == slug, Event.slug.like(f"{base}-%")))))
    candidate, n = slug, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _checked(session: Session, values: EventValues) -> dict[str, Any]:
    """The values as Event columns, after the rules the form cannot check alone."""
    if known_zone(values.timezone) is None:
        raise InvalidInput(f"{values.timezone!r} is not a known time zone; write it like Asia/Singapore.")
    if values.ends_at <= values.starts_at:
        raise InvalidInput("The event must end after it starts.")
    opens, closes = values.registration_opens_at, values.registration_closes_at
    if opens and closes and closes <= opens:
        raise InvalidInput("Registration must close after it opens.")
    if values.capacity is not None and not 0 <= values.capacity <= 1_000_000:
        raise InvalidInput("The capacity must be a whole number from 0 to 1,000,000, or empty for no limit.")
    programme_id = None
    if values.programme_code:
        programme_id = session.scalar(select(Programme.id).where(Programme.code == values.programme_code))
        if programme_id is None:
            raise InvalidInput(f"There is no programme with the code {values.programme_code!r}.")
    columns = asdict(values)
    columns.pop("programme_code")
    columns["programme_id"] = programme_id
    columns["speakers"] = [s.strip() for s in values.speakers if s.strip()]
    if values.reminders is Keep.KEEP:
        columns.pop("reminders")
    elif values.reminders is not None:
        try:
            columns["reminders"] = normalise_reminders(values.reminders)
        except ValueError as exc:
            raise InvalidInput(f"Reminders: {exc}") from None
    if values.certificate_rule is Keep.KEEP:
        columns.pop("certificate_rule")
    else:
        try:
            columns["certificate_rule"] = checked_rule(
                values.certificate_rule, number_of_days(values.starts_at, values.ends_at, values.timezone)
            )
        except ValueError as exc:
            raise InvalidInput(f"Certificate of attendance: {exc}") from None
    return columns


def _snapshot(event: Event, keys: list[str]) -> dict[str, Any]:
    return {k: getattr(event, k) for k in keys}


def create_event(session: Session, actor: Actor, slug: str, values: EventValues, *, now: datetime | None = None) -> Event:
    """A new event, as a draft: publishing is a separate, deliberate step. An empty `slug`
    takes one made from the title (proposed_slug)."""
    now = now or utcnow()
    slug = slug or proposed_slug(session, values.title)
    if not SLUG.match(slug) or len(slug) > 120:
        raise InvalidInput("The URL slug must be lowercase letters, digits and single hyphens, e.g. tatc-2027-03.")
    if session.scalar(select(Event.id).where(Event.slug == slug)) is not None:
        raise AlreadyExists(f"An event with the URL slug {slug!r} exists already; choose another.")
    columns = _checked(session, values)
    event = Event(slug=slug, status=EventStatus.DRAFT, sequence=0, created_at=now, published_at=None)
    apply_event_values(event, columns, now=now)
    session.add(event)
    session.flush()
    record(session, actor, "event.create", event_id=event.id, after={"slug": slug, "title": event.title}, now=now)
    return event


@dataclass(frozen=True)
class UpdateReport:
    changed: list[str]
    promoted: int
    notified: int
    # Confirmed beyond a capacity lowered under them: they keep their seats.
    over_capacity: int = 0


def update_event(session: Session, site: Site, actor: Actor, slug: str, values: EventValues, *, now: datetime | None = None) -> UpdateReport:
    """Edit an event. More seats go to the waiting list in order; a new time or place is
    emailed to everyone registered."""
    now = now or utcnow()
    event = lock_event(session, slug)
    columns = _checked(session, values)
    for key in _TIME_COLUMNS:
        # The form edits times to the minute: a time with seconds (from an import) that the
        # organiser left alone must stay exactly as it was, or the event would seem moved.
        old, new = getattr(event, key), columns[key]
        if old is not None and new is not None and new == old.replace(second=0, microsecond=0):
            columns[key] = old
    before = _snapshot(event, list(columns))
    apply_event_values(event, columns, now=now)
    old, new = diff(before, _snapshot(event, list(columns)))
    if not old:
        return UpdateReport([], 0, 0)
    record(session, actor, "event.update", event_id=event.id, before=old, after=new, now=now)
    session.flush()

    promoted = 0
    if "capacity" in old and (new["capacity"] is None or (old["capacity"] is not None and new["capacity"] > old["capacity"])):
        promoted = len(promote_from_waitlist(session, site, actor, event, now=now))
    notified = 0
    if any(k in old for k in NOTIFY_FIELDS) and event.status == EventStatus.PUBLISHED:
        previous = {k: before[k] for k in NOTIFY_FIELDS}
        notified = _tell_registrants(session, site, event, "event_changed", previous=previous)
    over = 0
    if "capacity" in old and event.capacity is not None:
        over = max(0, confirmed_count(session, event.id) - event.capacity)
    return UpdateReport(list(old), promoted, notified, over)


def _tell_registrants(session: Session, site: Site, event: Event, kind: str, **extra: Any) -> int:
    """Queue one message of `kind` to every active registrant, a batch at a time."""
    ids = list(
        session.scalars(
            select(Registration.id)
            .where(Registration.event_id == event.id, Registration.status.in_(ACTIVE_STATUSES))
            .order_by(Registration.id)
        )
    )
    for start in range(0, len(ids), _BATCH):
        batch = list(session.scalars(select(Registration).where(Registration.id.in_(ids[start:start + _BATCH]))))
        messages = [queue_registration_message(session, site, kind, r, event, **extra) for r in batch]
        session.flush()
        for obj in [*messages, *batch]:
            session.expunge(obj)
    return len(ids)


def _set_status(session: Session, actor: Actor, event: Event, status: EventStatus, action: str, now: datetime) -> None:
    before = event.status
    apply_event_values(event, {"status": status}, now=now)
    record(session, actor, action, event_id=event.id, before={"status": before}, after={"status": status}, now=now)


def publish_event(session: Session, actor: Actor, slug: str, *, now: datetime | None = None) -> Event:
    """Show a draft on the public site and in the feeds."""
    now = now or utcnow()
    event = lock_event(session, slug)
    if event.status == EventStatus.PUBLISHED:
        raise InvalidTransition("This event is published already.")
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition("A cancelled event cannot be published again: registrants were told it is off. Duplicate it as a new run instead.")
    _set_status(session, actor, event, EventStatus.PUBLISHED, "event.publish", now)
    # One row for the worker to fan out; announced once, however often it is republished.
    announce_event(session, event, now=now)
    return event


def unpublish_event(session: Session, actor: Actor, slug: str, *, now: datetime | None = None) -> Event:
    """Take a published event back to draft, while nobody is registered for it."""
    now = now or utcnow()
    event = lock_event(session, slug)
    if event.status != EventStatus.PUBLISHED:
        raise InvalidTransition("Only a published event can be unpublished.")
    active = active_count(session, event.id)
    if active:
        raise InvalidTransition(
            f"{active} {'person is' if active == 1 else 'people are'} registered, so the event cannot quietly "
            "disappear: cancel it instead, and they will be told."
        )
    _set_status(session, actor, event, EventStatus.DRAFT, "event.unpublish", now)
    return event


def cancellation_preview(session: Session, slug: str) -> tuple[Event, int]:
    """The event and how many registrants a cancellation would email."""
    event = event_by_slug(session, slug)
    return event, active_count(session, event.id)


def cancel_event(session: Session, site: Site, actor: Actor, slug: str, *, now: datetime | None = None) -> int:
    """Cancel an event: it stays in the feeds as cancelled, and every registrant is emailed.
    Returns how many were told."""
    now = now or utcnow()
    event = lock_event(session, slug)
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition("This event is already cancelled.")
    _set_status(session, actor, event, EventStatus.CANCELLED, "event.cancel", now)
    session.flush()
    return _tell_registrants(session, site, event, "event_cancelled")


@dataclass(frozen=True)
class DuplicateSuggestion:
    event: Event
    slug: str
    title: str
    starts_at: datetime


def _shifted_title(title: str, old: datetime, new: datetime) -> str:
    """The title with its year moved to the new run's."""
    return title.replace(str(old.year), str(new.year))


def _next_slug(slug: str, old: datetime, new: datetime) -> str:
    """The slug with its date moved to the new run's, as precisely as it names one: a whole
    date, a month, a year. A date the new run shares (a run later in the same year) becomes
    more precise rather than doubled: maritime-law-2027 becomes maritime-law-2027-03."""
    for shape in ("%Y-%m-%d", "%Y-%m", "%Y"):
        if f"{old:{shape}}" in slug:
            moved = slug.replace(f"{old:{shape}}", f"{new:{shape}}")
            if moved != slug:
                return moved
            finer = {"%Y-%m-%d": None, "%Y-%m": "%Y-%m-%d", "%Y": "%Y-%m"}[shape]
            if finer is not None:
                return slug.replace(f"{old:{shape}}", f"{new:{finer}}")
            break
    if f"{new:%Y-%m-%d}" in slug:
        return slug  # the same day again: suggest_duplicate numbers it
    return f"{slug}-{new:%Y-%m-%d}" if f"{new:%Y-%m}" in slug else f"{slug}-{new:%Y-%m}"


def suggest_duplicate(session: Session, slug: str) -> DuplicateSuggestion:
    """A proposal for the next run: the programme's usual interval later, with the year (and
    month) in the slug and title moved along."""
    event = event_by_slug(session, slug)
    interval = timedelta(days=7)
    if event.programme_id is not None:
        interval = timedelta(days=365)
        previous = session.scalar(
            select(Event.starts_at)
            .where(Event.programme_id == event.programme_id, Event.starts_at < event.starts_at, Event.id != event.id)
            .order_by(Event.starts_at.desc()).limit(1)
        )
        if previous is not None and event.starts_at - previous >= timedelta(days=1):
            interval = event.starts_at - previous
    zone = ZoneInfo(event.timezone)
    old_local = event.starts_at.astimezone(zone)
    new_start = event.starts_at + interval
    new_local = new_start.astimezone(zone)
    candidate = free_slug(session, _next_slug(event.slug, old_local, new_local))
    title = _shifted_title(event.title, old_local, new_local)
    return DuplicateSuggestion(event, candidate, title, new_start)


def duplicate_event(
    session: Session, actor: Actor, slug: str, new_slug: str, title: str, starts_at: datetime, *, now: datetime | None = None
) -> Event:
    """Copy an event as a new draft run: every time moves by the same amount, nobody registered."""
    now = now or utcnow()
    source = event_by_slug(session, slug)
    shift = starts_at - source.starts_at
    values = EventValues(
        title=title,
        starts_at=starts_at,
        ends_at=source.ends_at + shift,
        timezone=source.timezone,
        programme_code=session.scalar(select(Programme.code).where(Programme.id == source.programme_id)) if source.programme_id else None,
        category=source.category,
        all_day=source.all_day,
        venue=source.venue,
        address=source.address,
        online_url=source.online_url,
        capacity=source.capacity,
        waitlist=source.waitlist,
        registration_opens_at=source.registration_opens_at + shift if source.registration_opens_at else None,
        registration_closes_at=source.registration_closes_at + shift if source.registration_closes_at else None,
        description=source.description,
        speakers=list(source.speakers or []),
        reminders=None if source.reminders is None else list(source.reminders),
        certificate_rule=dict(source.certificate_rule) if source.certificate_rule else None,
    )
    event = create_event(session, actor, new_slug, values, now=now)
    # The follow-up is counted from the end, so it moves with the new run as it is.
    event.followup = dict(source.followup) if source.followup else None
    record(session, actor, "event.duplicate", event_id=event.id, before={"from": source.slug}, after={"slug": new_slug, "starts_at": plain(starts_at)}, now=now)
    return event


# --- programmes ------------------------------------------------------------------------------

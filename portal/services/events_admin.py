"""The back office's events and programmes: create, edit, publish, unpublish, cancel and
duplicate events; create and edit programmes; the dashboard and the events list.

Edits go through catalogue.apply_event_values, so the iCalendar SEQUENCE rises exactly as it
does for imports. Registrants hear about a change of time or place, and about a cancellation,
through the outbox in the same transaction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.errors import AlreadyExists, InvalidInput, InvalidTransition, NotFound
from portal.models import (
    ACTIVE_STATUSES,
    Admission,
    Event,
    EventStatus,
    Programme,
    Registration,
    RegistrationStatus,
)
from portal.services.audit import Actor, plain, record
from portal.services.catalogue import CODE, SCHEDULE_FIELDS, SLUG, apply_event_values, known_zone
from portal.services.events import RegistrationState, registration_state_now
from portal.services.mail import Site, queue_registration_message
from portal.services.registrations import confirmed_count, lock_event, promote_from_waitlist, seats_left

# What registrants are told about when it changes: the time and the place.
NOTIFY_FIELDS = tuple(f for f in SCHEDULE_FIELDS if f != "status")
_BATCH = 500
_TIME_COLUMNS = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")


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


@dataclass(frozen=True)
class ProgrammeValues:
    name: str
    admission: Admission
    summary: str = ""
    description: str = ""


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    event: Event
    programme: Programme | None
    counts: dict[str, int]

    @property
    def seats_left(self) -> int | None:
        return seats_left(self.event, self.counts.get(RegistrationStatus.CONFIRMED, 0))

    @property
    def active(self) -> int:
        return sum(self.counts.get(s, 0) for s in ACTIVE_STATUSES)

    @cached_property
    def registration(self) -> RegistrationState:
        return registration_state_now(self.event, self.programme, self.counts.get(RegistrationStatus.CONFIRMED, 0))


def counts_by_status(session: Session, event_ids: list[int]) -> dict[int, dict[str, int]]:
    """{event_id: {status: count}} for the given events, in one grouped query."""
    counts: dict[int, dict[str, int]] = {i: {} for i in event_ids}
    if event_ids:
        rows = session.execute(
            select(Registration.event_id, Registration.status, func.count())
            .where(Registration.event_id.in_(event_ids))
            .group_by(Registration.event_id, Registration.status)
        )
        for event_id, status, n in rows:
            counts[event_id][RegistrationStatus(status).value] = n
    return counts


def _rows(session: Session, pairs: list[tuple[Event, Programme | None]]) -> list[EventRow]:
    counts = counts_by_status(session, [e.id for e, _ in pairs])
    return [EventRow(e, p, counts[e.id]) for e, p in pairs]


@dataclass(frozen=True)
class Dashboard:
    upcoming: list[EventRow]
    awaiting_approval: list[EventRow]

    @property
    def pending_total(self) -> int:
        return sum(r.counts.get(RegistrationStatus.PENDING, 0) for r in self.awaiting_approval)


def dashboard(session: Session, *, now: datetime | None = None, limit: int = 30) -> Dashboard:
    """Upcoming events with their counts, and the events with applications to decide."""
    now = now or utcnow()
    base = select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id)
    upcoming = session.execute(
        base.where(Event.ends_at >= now, Event.status != EventStatus.CANCELLED)
        .order_by(Event.starts_at, Event.id).limit(limit)
    ).all()
    pending_ids = select(Registration.event_id).where(Registration.status == RegistrationStatus.PENDING).distinct()
    awaiting = session.execute(
        base.where(Event.id.in_(pending_ids), Event.ends_at >= now).order_by(Event.starts_at, Event.id)
    ).all()
    return Dashboard(_rows(session, list(upcoming)), _rows(session, list(awaiting)))


@dataclass(frozen=True)
class EventList:
    rows: list[EventRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def list_events(
    session: Session, *, when: str = "upcoming", q: str | None = None, page: int = 1, per_page: int = 30,
    now: datetime | None = None,
) -> EventList:
    """Every event, drafts included: upcoming (soonest first), past (latest first) or drafts."""
    now = now or utcnow()
    conditions: list[Any] = []
    order: tuple[Any, ...] = (Event.starts_at, Event.id)
    if when == "past":
        conditions.append(Event.ends_at < now)
        order = (Event.starts_at.desc(), Event.id.desc())
    elif when == "drafts":
        conditions.append(Event.status == EventStatus.DRAFT)
    else:
        conditions.append(Event.ends_at >= now)
    if q:
        pattern = like_pattern(q)
        conditions.append(or_(func.lower(Event.title).like(pattern, escape="\\"), func.lower(Event.slug).like(pattern, escape="\\")))
    base = select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    page = max(1, page)
    pairs = session.execute(base.order_by(*order).limit(per_page).offset((page - 1) * per_page)).all()
    return EventList(_rows(session, list(pairs)), total, page, per_page)


def like_pattern(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def get_event(session: Session, slug: str) -> Event:
    event = session.scalar(select(Event).where(Event.slug == slug))
    if event is None:
        raise NotFound(f"There is no event with the address name {slug!r}.")
    return event


def list_programmes(session: Session) -> list[Programme]:
    return list(session.scalars(select(Programme).order_by(Programme.name)))


@dataclass(frozen=True)
class EventForm:
    """What the edit form needs: the event (None for a new one) and the programmes to pick from."""

    event: Event | None
    programme_code: str | None
    programmes: list[Programme]


def event_form(session: Session, slug: str | None = None) -> EventForm:
    programmes = list_programmes(session)
    if slug is None:
        return EventForm(None, None, programmes)
    event = get_event(session, slug)
    code = next((p.code for p in programmes if p.id == event.programme_id), None)
    return EventForm(event, code, programmes)


# --- changing events -------------------------------------------------------------------------


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
    return columns


def _snapshot(event: Event, keys: list[str]) -> dict[str, Any]:
    return {k: getattr(event, k) for k in keys}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    changed = [k for k in before if before[k] != after[k]]
    return {k: before[k] for k in changed}, {k: after[k] for k in changed}


def create_event(session: Session, actor: Actor, slug: str, values: EventValues, *, now: datetime | None = None) -> Event:
    """A new event, as a draft: publishing is a separate, deliberate step."""
    now = now or utcnow()
    if not SLUG.match(slug) or len(slug) > 120:
        raise InvalidInput("The address name must be lowercase letters, digits and single hyphens, e.g. tatc-2027-03.")
    if session.scalar(select(Event.id).where(Event.slug == slug)) is not None:
        raise AlreadyExists(f"An event with the address name {slug!r} exists already; choose another.")
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
    old, new = _diff(before, _snapshot(event, list(columns)))
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
    return event


def unpublish_event(session: Session, actor: Actor, slug: str, *, now: datetime | None = None) -> Event:
    """Take a published event back to draft, while nobody is registered for it."""
    now = now or utcnow()
    event = lock_event(session, slug)
    if event.status != EventStatus.PUBLISHED:
        raise InvalidTransition("Only a published event can be unpublished.")
    active = session.scalar(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == event.id, Registration.status.in_(ACTIVE_STATUSES)
        )
    ) or 0
    if active:
        raise InvalidTransition(
            f"{active} {'person is' if active == 1 else 'people are'} registered, so the event cannot quietly "
            "disappear: cancel it instead, and they will be told."
        )
    _set_status(session, actor, event, EventStatus.DRAFT, "event.unpublish", now)
    return event


def cancellation_preview(session: Session, slug: str) -> tuple[Event, int]:
    """The event and how many registrants a cancellation would email."""
    event = get_event(session, slug)
    active = session.scalar(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == event.id, Registration.status.in_(ACTIVE_STATUSES)
        )
    ) or 0
    return event, active


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
    event = get_event(session, slug)
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
    candidate = _next_slug(event.slug, old_local, new_local)
    base, n = candidate[:110], 2
    taken = set(session.scalars(select(Event.slug).where(Event.slug.like(f"{base}%"))))
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    title = _shifted_title(event.title, old_local, new_local)
    return DuplicateSuggestion(event, candidate, title, new_start)


def duplicate_event(
    session: Session, actor: Actor, slug: str, new_slug: str, title: str, starts_at: datetime, *, now: datetime | None = None
) -> Event:
    """Copy an event as a new draft run: every time moves by the same amount, nobody registered."""
    now = now or utcnow()
    source = get_event(session, slug)
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
    )
    event = create_event(session, actor, new_slug, values, now=now)
    record(session, actor, "event.duplicate", event_id=event.id, before={"from": source.slug}, after={"slug": new_slug, "starts_at": plain(starts_at)}, now=now)
    return event


# --- programmes ------------------------------------------------------------------------------


def get_programme(session: Session, code: str) -> Programme:
    programme = session.scalar(select(Programme).where(Programme.code == code))
    if programme is None:
        raise NotFound(f"There is no programme with the code {code!r}.")
    return programme


def create_programme(session: Session, actor: Actor, code: str, values: ProgrammeValues, *, now: datetime | None = None) -> Programme:
    now = now or utcnow()
    if not CODE.match(code) or len(code) > 40:
        raise InvalidInput("The code must be lowercase letters, digits and single hyphens, e.g. tatc.")
    if session.scalar(select(Programme.id).where(Programme.code == code)) is not None:
        raise AlreadyExists(f"A programme with the code {code!r} exists already.")
    programme = Programme(code=code, created_at=now, updated_at=now, **asdict(values))
    session.add(programme)
    session.flush()
    record(session, actor, "programme.create", after={"code": code, "name": values.name, "admission": values.admission}, now=now)
    return programme


def update_programme(session: Session, actor: Actor, code: str, values: ProgrammeValues, *, now: datetime | None = None) -> Programme:
    """Edit a programme. A new admission rule applies to registrations made from now on."""
    now = now or utcnow()
    programme = get_programme(session, code)
    before = {k: getattr(programme, k) for k in asdict(values)}
    for key, value in asdict(values).items():
        setattr(programme, key, value)
    old, new = _diff(before, {k: getattr(programme, k) for k in before})
    if old:
        programme.updated_at = now
        record(session, actor, "programme.update", before={"code": code, **old}, after={"code": code, **new}, now=now)
    return programme


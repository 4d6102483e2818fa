"""Reading events and programmes for the public pages: listing, one event, programmes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.errors import NotFound
from portal.models import Admission, Event, EventStatus, Programme, Registration, RegistrationStatus
from portal.services.registrations import seats_left

PUBLIC_STATUSES = (EventStatus.PUBLISHED, EventStatus.CANCELLED)


class State(StrEnum):
    OPEN = "open"
    FULL_WAITLIST = "full_waitlist"
    FULL = "full"
    NOT_YET_OPEN = "not_yet_open"
    CLOSED = "closed"
    STARTED = "started"
    CANCELLED = "cancelled"
    DRAFT = "draft"


@dataclass(frozen=True)
class RegistrationState:
    """Where registration stands, for the plain words on the event page."""

    state: State
    seats_left: int | None  # None: no limit
    opens_at: datetime | None
    closes_at: datetime | None

    @property
    def can_register(self) -> bool:
        return self.state in (State.OPEN, State.FULL_WAITLIST)


def registration_state(event: Event, confirmed: int, now: datetime, admission: Admission = Admission.OPEN) -> RegistrationState:
    left = seats_left(event, confirmed)
    if event.status == EventStatus.CANCELLED:
        state = State.CANCELLED
    elif event.status == EventStatus.DRAFT:
        state = State.DRAFT
    elif now >= event.starts_at:
        state = State.STARTED
    elif event.registration_opens_at and now < event.registration_opens_at:
        state = State.NOT_YET_OPEN
    elif event.registration_closes_at and now >= event.registration_closes_at:
        state = State.CLOSED
    elif left == 0 and admission == Admission.OPEN:
        state = State.FULL_WAITLIST if event.waitlist else State.FULL
    else:
        state = State.OPEN
    return RegistrationState(state, left, event.registration_opens_at, event.registration_closes_at)


def registration_state_now(event: Event, programme: Programme | None, confirmed: int) -> RegistrationState:
    """registration_state at this moment, with the admission of the event's programme: what
    the back office shows organisers about the public form."""
    return registration_state(event, confirmed, utcnow(), programme.admission if programme else Admission.OPEN)


@dataclass(frozen=True)
class EventCard:
    event: Event
    programme: Programme | None
    state: RegistrationState


@dataclass(frozen=True)
class Page:
    items: list[EventCard]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _confirmed_counts(session: Session, event_ids: list[int]) -> dict[int, int]:
    if not event_ids:
        return {}
    rows = session.execute(
        select(Registration.event_id, func.count())
        .where(Registration.event_id.in_(event_ids), Registration.status == RegistrationStatus.CONFIRMED)
        .group_by(Registration.event_id)
    )
    return {event_id: count for event_id, count in rows}


def _cards(session: Session, query: Select[tuple[Event, Programme | None]], now: datetime) -> list[EventCard]:
    rows = session.execute(query).all()
    counts = _confirmed_counts(session, [event.id for event, _ in rows])
    return [
        EventCard(
            event,
            programme,
            registration_state(event, counts.get(event.id, 0), now, programme.admission if programme else Admission.OPEN),
        )
        for event, programme in rows
    ]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_events(
    session: Session,
    *,
    programme: str | None = None,
    category: str | None = None,
    q: str | None = None,
    past: bool = False,
    page: int = 1,
    per_page: int = 20,
    now: datetime | None = None,
) -> Page:
    """Public events, upcoming (soonest first) or past (latest first), filtered and paginated."""
    now = now or utcnow()
    conditions = [Event.status.in_(PUBLIC_STATUSES)]
    conditions.append(Event.ends_at < now if past else Event.ends_at >= now)
    if programme:
        conditions.append(Programme.code == programme)
    if category:
        conditions.append(Event.category == category)
    if q:
        pattern = _like_pattern(q.strip().lower())
        conditions.append(
            or_(
                func.lower(Event.title).like(pattern, escape="\\"),
                func.lower(Event.description).like(pattern, escape="\\"),
                func.lower(Event.venue).like(pattern, escape="\\"),
            )
        )
    base = select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    order = (Event.starts_at.desc(), Event.id.desc()) if past else (Event.starts_at, Event.id)
    # A page past the last (an old link, a typed number) shows the last page, not "page 999 of 2".
    page = min(max(1, page), max(1, math.ceil(total / per_page)))
    query = base.order_by(*order).limit(per_page).offset((page - 1) * per_page)
    return Page(_cards(session, query, now), total, page, per_page)


def categories(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Event.category).where(Event.status.in_(PUBLIC_STATUSES)).distinct().order_by(Event.category)
        )
    )


@dataclass(frozen=True)
class EventPage:
    event: Event
    programme: Programme | None
    state: RegistrationState
    admission: Admission


def get_event_page(session: Session, slug: str, *, now: datetime | None = None) -> EventPage:
    """One public event with its registration state; drafts are not found."""
    now = now or utcnow()
    row = session.execute(
        select(Event, Programme)
        .outerjoin(Programme, Event.programme_id == Programme.id)
        .where(Event.slug == slug, Event.status.in_(PUBLIC_STATUSES))
    ).first()
    if row is None:
        raise NotFound(f"There is no event at /events/{slug}.")
    event, programme = row
    admission = programme.admission if programme else Admission.OPEN
    counts = _confirmed_counts(session, [event.id])
    return EventPage(event, programme, registration_state(event, counts.get(event.id, 0), now, admission), admission)


def registration_form_kind(session: Session, slug: str) -> tuple[str | None, Admission]:
    """The programme code and admission that decide which registration form an event takes.

    All a submitted form needs before it is checked: cheaper than the whole event page."""
    row = session.execute(
        select(Programme.code, Programme.admission)
        .select_from(Event)
        .outerjoin(Programme, Event.programme_id == Programme.id)
        .where(Event.slug == slug, Event.status.in_(PUBLIC_STATUSES))
    ).first()
    if row is None:
        raise NotFound(f"There is no event at /events/{slug}.")
    return row[0], row[1] or Admission.OPEN


@dataclass(frozen=True)
class ProgrammeSummary:
    programme: Programme
    next_event: Event | None
    upcoming_count: int


def list_programmes(session: Session, *, now: datetime | None = None) -> list[ProgrammeSummary]:
    now = now or utcnow()
    programmes = list(session.scalars(select(Programme).order_by(Programme.name)))
    upcoming = session.scalars(
        select(Event)
        .where(Event.status == EventStatus.PUBLISHED, Event.ends_at >= now, Event.programme_id.is_not(None))
        .order_by(Event.starts_at)
    ).all()
    by_programme: dict[int, list[Event]] = {}
    for event in upcoming:
        by_programme.setdefault(event.programme_id or 0, []).append(event)
    return [
        ProgrammeSummary(p, (by_programme.get(p.id) or [None])[0], len(by_programme.get(p.id, [])))
        for p in programmes
    ]


@dataclass(frozen=True)
class ProgrammePage:
    programme: Programme
    upcoming: list[EventCard]
    past: list[EventCard]


def get_programme_page(session: Session, code: str, *, now: datetime | None = None) -> ProgrammePage:
    now = now or utcnow()
    programme = session.scalar(select(Programme).where(Programme.code == code))
    if programme is None:
        raise NotFound(f"There is no programme with the code {code!r}.")
    base = (
        select(Event, Programme)
        .join(Programme, Event.programme_id == Programme.id)
        .where(Event.programme_id == programme.id, Event.status.in_(PUBLIC_STATUSES))
    )
    upcoming = _cards(session, base.where(Event.ends_at >= now).order_by(Event.starts_at), now)
    past = _cards(session, base.where(Event.ends_at < now).order_by(Event.starts_at.desc()).limit(20), now)
    return ProgrammePage(programme, upcoming, past)


@dataclass(frozen=True)
class Home:
    upcoming: list[EventCard]
    programmes: list[ProgrammeSummary]


def get_home(session: Session, *, now: datetime | None = None) -> Home:
    now = now or utcnow()
    return Home(list_events(session, per_page=8, now=now).items, list_programmes(session, now=now))

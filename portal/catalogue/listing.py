"""Reading events and programmes for the public pages: listing, one event, programmes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import Admission, Event, EventStatus, Programme, find_event, programme_by_code
from portal.paging import Paged, clamp_page, offset
from portal.registrations.availability import RegistrationState, registration_state
from portal.registrations.seats import confirmed_counts
from portal.text import like_pattern

PUBLIC_STATUSES = (EventStatus.PUBLISHED, EventStatus.CANCELLED)


@dataclass(frozen=True)
class EventCard:
    event: Event
    programme: Programme | None
    state: RegistrationState


@dataclass(frozen=True)
class Page(Paged):
    items: list[EventCard]
    total: int
    page: int
    per_page: int


def _cards(session: Session, query: Select[tuple[Event, Programme | None]], now: datetime) -> list[EventCard]:
    rows = session.execute(query).all()
    counts = confirmed_counts(session, [event.id for event, _ in rows])
    return [
        EventCard(
            event,
            programme,
            registration_state(event, counts.get(event.id, 0), now, programme.admission if programme else Admission.OPEN),
        )
        for event, programme in rows
    ]


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
        pattern = like_pattern(q)
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
    page = clamp_page(page, total, per_page)
    query = base.order_by(*order).limit(per_page).offset(offset(page, per_page))
    return Page(_cards(session, query, now), total, page, per_page)


def categories(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Event.category).where(Event.status.in_(PUBLIC_STATUSES)).distinct().order_by(Event.category)
        )
    )


@dataclass(frozen=True)
class Listing:
    """The /events page: one page of events, and what its filters offer."""

    page: Page
    categories: list[str]
    programmes: list[ProgrammeSummary]


def get_listing(session: Session, *, now: datetime | None = None, **filters: Any) -> Listing:
    """list_events with the filters' choices, in one unit of work."""
    now = now or utcnow()
    return Listing(list_events(session, now=now, **filters), categories(session), list_programmes(session, now=now))


@dataclass(frozen=True)
class EventPage:
    event: Event
    programme: Programme | None
    state: RegistrationState
    admission: Admission

    def refused(self, *, full: bool, now: datetime | None = None) -> EventPage:
        """This page after a registration was refused as closed or full: the state as the
        refusal found it, without reading the event again. Full means no seat is left."""
        capacity, left = self.event.capacity, self.state.seats_left
        confirmed = 0 if capacity is None else capacity if full or left is None else capacity - left
        state = registration_state(self.event, confirmed, now or utcnow(), self.admission)
        return replace(self, state=state)


def get_event_page(session: Session, slug: str, *, now: datetime | None = None) -> EventPage:
    """One public event with its registration state; drafts are not found."""
    now = now or utcnow()
    event, programme = find_event(session, slug, statuses=PUBLIC_STATUSES)
    admission = programme.admission if programme else Admission.OPEN
    counts = confirmed_counts(session, [event.id])
    return EventPage(event, programme, registration_state(event, counts.get(event.id, 0), now, admission), admission)


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
    programme = programme_by_code(session, code)
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

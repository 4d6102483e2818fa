"""The back office's view of events: the dashboard (upcoming events and applications to
decide) and the list of every event, drafts included, each with its counts by status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import ACTIVE_STATUSES, Event, EventStatus, Programme, Registration, RegistrationStatus
from portal.paging import Paged, offset
from portal.registrations.availability import RegistrationState, registration_state_now
from portal.registrations.seats import counts_by_status, seats_left
from portal.text import like_pattern


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


def dashboard(session: Session, *, now: datetime | None = None, limit: int = 30, programme_ids: frozenset[int] | None = None) -> Dashboard:
    """Upcoming events with their counts, and the events with applications to decide; only
    the events of `programme_ids` when it is given (a programme manager's)."""
    now = now or utcnow()
    base = select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id)
    if programme_ids is not None:
        base = base.where(Event.programme_id.in_(sorted(programme_ids)))
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
class EventList(Paged):
    rows: list[EventRow]
    total: int
    page: int
    per_page: int


def list_events(
    session: Session, *, when: str = "upcoming", q: str | None = None, page: int = 1, per_page: int = 30,
    now: datetime | None = None, programme_ids: frozenset[int] | None = None,
) -> EventList:
    """Every event, drafts included: upcoming (soonest first), past (latest first) or drafts;
    only the events of `programme_ids` when it is given (a programme manager's)."""
    now = now or utcnow()
    conditions: list[Any] = []
    if programme_ids is not None:
        conditions.append(Event.programme_id.in_(sorted(programme_ids)))
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
    pairs = session.execute(base.order_by(*order).limit(per_page).offset(offset(page, per_page))).all()
    return EventList(_rows(session, list(pairs)), total, page, per_page)

"""Finding an event or a programme by its natural key (slug, code): one query each, for every
service, so that a request reads its event once and every miss says the same thing; and the
categories the public events use."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, ScalarSelect, select
from sqlalchemy.orm import Session

from portal.errors import NotFound
from portal.models.enums import EventStatus
from portal.models.events import Event
from portal.models.programmes import Programme


def find_event(
    session: Session, slug: str, *, statuses: Iterable[EventStatus] | None = None, lock: bool = False
) -> tuple[Event, Programme | None]:
    """The event at `slug` with its programme (None for a standalone event), or NotFound.

    `statuses` limits which events count (the public side never finds a draft); `lock` holds
    the event's row until the transaction ends (SELECT ... FOR UPDATE of the event only)."""
    query = select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id).where(Event.slug == slug)
    if statuses is not None:
        query = query.where(Event.status.in_(list(statuses)))
    if lock:
        query = query.with_for_update(of=Event)
    row = session.execute(query).first()
    if row is None:
        raise NotFound(f"There is no event at /events/{slug}.")
    return row[0], row[1]


def event_by_slug(session: Session, slug: str, *, lock: bool = False) -> Event:
    """The event at `slug`, whatever its status, or NotFound; locked when `lock`."""
    query = select(Event).where(Event.slug == slug)
    if lock:
        query = query.with_for_update()
    event = session.scalar(query)
    if event is None:
        raise NotFound(f"There is no event at /events/{slug}.")
    return event


def programme_by_code(session: Session, code: str) -> Programme:
    """The programme with `code`, or NotFound."""
    programme = session.scalar(select(Programme).where(Programme.code == code))
    if programme is None:
        raise NotFound(f"There is no programme with the code {code!r}.")
    return programme


# What the public site shows: published events, and cancelled ones (marked so).
PUBLIC_STATUSES = (EventStatus.PUBLISHED, EventStatus.CANCELLED)


def public_categories(session: Session) -> list[str]:
    """The public events' categories, in order. Each is the first after the one before, read
    off the index (category, status) by a recursive query, so the cost grows with the
    categories (a handful), not with the events, as SELECT DISTINCT's did."""
    # "Not a hidden status" rather than "a public one": SQLite's planner (no statistics)
    # takes any IN (...) on status to the index (status, starts_at) and reads every event.
    public = Event.status.not_in([s for s in EventStatus if s not in PUBLIC_STATUSES])

    def first(*after: ColumnElement[bool]) -> ScalarSelect[str]:
        return select(Event.category).where(public, *after).order_by(Event.category).limit(1).scalar_subquery()

    found = select(first().label("category")).cte("found", recursive=True)
    found = found.union_all(select(first(Event.category > found.c.category)).where(found.c.category.is_not(None)))
    return list(session.scalars(select(found.c.category).where(found.c.category.is_not(None)).order_by(found.c.category)))

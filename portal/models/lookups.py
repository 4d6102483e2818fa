"""Finding an event or a programme by its natural key (slug, code): one query each, for every
service, so that a request reads its event once and every miss says the same thing."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
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

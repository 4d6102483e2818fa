"""The door: confirmed registrations found by name, with the counts the door shows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from portal.models import Event, Registration, RegistrationStatus, event_by_slug
from portal.registrations.seats import confirmed_count
from portal.rosters.search import matches, matching_ids

S = RegistrationStatus


@dataclass(frozen=True)
class CheckIn:
    event: Event
    people: list[Registration]
    more: bool
    confirmed: int
    checked_in: int


def check_in_list(session: Session, slug: str, q: str = "", *, limit: int = 30) -> CheckIn:
    """Confirmed registrations matching a search, by name, for the door."""
    event = event_by_slug(session, slug)
    conditions: list[ColumnElement[bool]] = [Registration.event_id == event.id, Registration.status == S.CONFIRMED]
    if q:
        conditions.append(matches(session, q))
        ids = matching_ids(session, event.id, [S.CONFIRMED], q)
        if ids is not None:
            conditions = [Registration.id.in_(ids)]
    people = list(
        session.scalars(select(Registration).where(*conditions).order_by(Registration.name, Registration.id).limit(limit + 1))
    )
    # Counted afresh, not from a NumbersCache: at the door every check-in changes the data,
    # and these two counts cost a third of the chart and counts the roster page keeps.
    confirmed = confirmed_count(session, event.id)
    checked_in = session.scalar(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == event.id, Registration.checked_in_at.is_not(None)
        )
    ) or 0
    return CheckIn(event, people[:limit], len(people) > limit, confirmed, checked_in)

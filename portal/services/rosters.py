"""Reading rosters for organisers: counts and a per-day chart, a filtered, sorted, paginated
table that stays fast at 100,000 registrations, one registration with its trail, and the door's
check-in list. The export is in services/exports.py.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from portal.errors import InvalidInput, NotFound
from portal.models import ACTIVE_STATUSES, Event, Programme, Registration, RegistrationStatus
from portal.services import audit
from portal.services.events import RegistrationState, registration_state_now
from portal.services.events_admin import get_event, like_pattern
from portal.services.registrations import MAX_BULK, event_slug_of, seats_after_cancelling, seats_left, waitlist_position
from portal.services.roster_numbers import Chart, EventNumbers, NumbersCache, event_numbers

S = RegistrationStatus


# --- the roster table: filter, search, sort, keyset pages ------------------------------------

# Sortable columns: name in the URL -> (column, may be NULL). Each has an index
# (event_id, column, id), so a page is a range scan whatever the sort.
SORTS: dict[str, tuple[InstrumentedAttribute[Any], bool]] = {
    "name": (Registration.name, False),
    "email": (Registration.email, False),
    "organisation": (Registration.organisation, False),
    "status": (Registration.status, False),
    "registered": (Registration.created_at, False),
    "checked_in": (Registration.checked_in_at, True),
}
DEFAULT_SORT = "registered"
PER_PAGE = 50


@dataclass(frozen=True)
class RosterQuery:
    status: RegistrationStatus | None = None
    q: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = False
    after: str | None = None  # cursor: the page after this row
    before: str | None = None  # cursor: the page before this row
    last: bool = False  # the last page
    per_page: int = PER_PAGE


@dataclass(frozen=True)
class _Segment:
    """A run of rows in display order that one index range scan can read. A column that may
    be NULL is read in two segments (values, then NULLs), because the engines disagree on
    where NULLs sort; every other column is one segment."""

    where: tuple[ColumnElement[bool], ...]
    keys: tuple[InstrumentedAttribute[Any], ...]


def _segments(sort: str, descending: bool) -> list[_Segment]:
    column, nullable = SORTS[sort]
    if not nullable:
        return [_Segment((), (column, Registration.id))]
    values = _Segment((column.is_not(None),), (column, Registration.id))
    nulls = _Segment((column.is_(None),), (Registration.id,))
    return [nulls, values] if descending else [values, nulls]


def _encode_key(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, RegistrationStatus):
        return value.value
    return value


def _decode_key(column: InstrumentedAttribute[Any], value: Any) -> Any:
    if column is Registration.id:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("id")
        return value
    if not isinstance(value, str):
        raise ValueError("value")
    if column in (Registration.created_at, Registration.checked_in_at):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed
    if column is Registration.status:
        return RegistrationStatus(value)
    return value


def _cursor_of(registration: Registration, segments: list[_Segment], sort: str) -> str:
    column, nullable = SORTS[sort]
    if nullable:
        is_null = getattr(registration, column.key) is None
        index = next(i for i, s in enumerate(segments) if (len(s.keys) == 1) == is_null)
    else:
        index = 0
    values = [_encode_key(getattr(registration, k.key)) for k in segments[index].keys]
    raw = json.dumps([index, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_cursor(cursor: str, segments: list[_Segment]) -> tuple[int, list[Any]]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        index, values = json.loads(raw)
        segment = segments[index]
        if not isinstance(index, int) or index < 0 or len(values) != len(segment.keys):
            raise ValueError("shape")
        return index, [_decode_key(k, v) for k, v in zip(segment.keys, values, strict=True)]
    except (ValueError, TypeError, IndexError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("This page link is damaged. Go back to the first page of the roster.") from None


# A search reads Registration.search_text: name, email and organisation, lower-cased and
# joined by line breaks, kept by the database and held in the index
# (event_id, status, search_text).
_FIELD_BREAK = "\n"
# Past this many matches a search says "more than" rather than count them all.
MAX_COUNT = 1000


def _search_fields(session: Session, q: str) -> ColumnElement[bool]:
    """Name, email or organisation contains q, ignoring case, tested field by field."""
    pattern = like_pattern(q)
    columns = (Registration.name, Registration.email, Registration.organisation)
    if session.get_bind().dialect.name == "postgresql":
        return or_(*(c.ilike(pattern, escape="\\") for c in columns))
    return or_(*(c.like(pattern, escape="\\") for c in columns))


def _search(session: Session, q: str) -> ColumnElement[bool]:
    """Name, email or organisation contains q, ignoring case: the same matches as testing each
    field with LIKE (SQLite: ASCII letters only) or ILIKE (PostgreSQL), but one test of one
    indexed column. like_pattern lower-cases the needle; on SQLite the column's lower() then
    agrees with LIKE, which also folds ASCII only, and on PostgreSQL ILIKE is lower() of both
    sides, which is what this does. A needle with a line break could match across two fields,
    so it is tested field by field (no search box can send one)."""
    pattern = like_pattern(q)
    if _FIELD_BREAK in pattern:
        return _search_fields(session, q)
    if session.get_bind().dialect.name == "postgresql":
        return Registration.search_text.like(func.lower(pattern), escape="\\")
    # LIKE folds ASCII case, which changes nothing here (both sides are lower case already),
    # and costs a sixth less than instr() a row.
    return Registration.search_text.like(pattern, escape="\\")


def _search_ids(session: Session, event_id: int, statuses: list[RegistrationStatus], q: str) -> list[int] | None:
    """The ids of the event's registrations in `statuses` that match the search q, read off the
    search index alone; None when more than MAX_COUNT match.

    A search that matches few rows is the slow one for the usual plan, which walks the sort's
    index and visits row after row looking for a page of matches: with no match at all it
    visits every row. Reading the matches' ids first costs one pass over a narrow index, after
    which the page is a sort of at most MAX_COUNT rows and the count is known. When more than
    MAX_COUNT match, they are common enough for the usual plan to find a page soon."""
    statement = select(Registration.id).where(
        Registration.event_id == event_id,
        # Named even when it is every status: SQLite's planner (which has no statistics) then
        # takes the search index, whose second column is the status, over (event_id, id),
        # which would visit every row to read its search_text.
        Registration.status.in_(statuses),
        _search(session, q),
    ).limit(MAX_COUNT + 1)
    ids = list(session.scalars(statement))
    return ids if len(ids) <= MAX_COUNT else None


def _filters(session: Session, event_id: int, query: RosterQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Registration.event_id == event_id]
    if query.status is not None:
        conditions.append(Registration.status == query.status)
    if query.q:
        conditions.append(_search(session, query.q))
    return conditions


def _read(
    session: Session, base: list[ColumnElement[bool]], segments: list[_Segment], start: int,
    cursor_values: list[Any] | None, *, forward: bool, descending: bool, limit: int,
) -> list[Registration]:
    """Up to `limit` rows from segment `start` on, forward or backward in display order."""
    rows: list[Registration] = []
    order = range(start, len(segments)) if forward else range(start, -1, -1)
    # Reading backward is reading forward in the opposite direction.
    desc = descending if forward else not descending
    for index in order:
        segment = segments[index]
        conditions = [*base, *segment.where]
        if index == start and cursor_values is not None:
            key = tuple_(*segment.keys) if len(segment.keys) > 1 else segment.keys[0]
            value = tuple_(*cursor_values) if len(segment.keys) > 1 else cursor_values[0]
            conditions.append(key < value if desc else key > value)
        ordering = [k.desc() if desc else k.asc() for k in segment.keys]
        rows.extend(session.scalars(select(Registration).where(*conditions).order_by(*ordering).limit(limit - len(rows))))
        if len(rows) >= limit:
            break
    return rows


@dataclass(frozen=True)
class RosterPage:
    rows: list[Registration]
    next_cursor: str | None
    previous_cursor: str | None
    matching: int
    # True when more than MAX_COUNT match a search: counting them all would read every row.
    more_than: bool = False


def roster_page(session: Session, event_id: int, query: RosterQuery, matching: int | None = None) -> RosterPage:
    """One page of an event's roster: filtered, searched, sorted, and read by cursor."""
    if query.sort not in SORTS:
        raise InvalidInput("The roster cannot be sorted by that column.")
    segments = _segments(query.sort, query.descending)
    base = _filters(session, event_id, query)
    more_than = False
    if query.q:
        ids = _search_ids(session, event_id, [query.status] if query.status else list(S), query.q)
        if ids is None:
            matching, more_than = MAX_COUNT, True
        else:
            base, matching = [Registration.id.in_(ids)], len(ids)
    limit = query.per_page + 1
    if query.after or query.before:
        index, values = _parse_cursor(query.after or query.before or "", segments)
        forward = bool(query.after)
        rows = _read(session, base, segments, index, values, forward=forward, descending=query.descending, limit=limit)
    else:
        forward = not query.last
        start = 0 if forward else len(segments) - 1
        rows = _read(session, base, segments, start, None, forward=forward, descending=query.descending, limit=limit)
    more = len(rows) > query.per_page
    rows = rows[: query.per_page]
    if not forward:
        rows.reverse()
    has_next = more if forward else bool(query.before)
    has_previous = bool(query.after) if forward else more
    if matching is None:
        if not (query.after or query.before or query.last) and not more:
            matching = len(rows)  # the first page read every match already
        else:
            capped = select(Registration.id).where(*base).limit(MAX_COUNT + 1).subquery()
            matching = session.scalar(select(func.count()).select_from(capped)) or 0
            more_than = matching > MAX_COUNT
            matching = min(matching, MAX_COUNT)
    return RosterPage(
        rows=rows,
        next_cursor=_cursor_of(rows[-1], segments, query.sort) if has_next and rows else None,
        previous_cursor=_cursor_of(rows[0], segments, query.sort) if has_previous and rows else None,
        matching=matching,
        more_than=more_than,
    )


@dataclass(frozen=True)
class Roster:
    event: Event
    programme: Programme | None
    counts: dict[str, int]
    checked_in: int
    chart: Chart
    page: RosterPage
    recent: list[audit.TrailEntry]

    @property
    def confirmed(self) -> int:
        return self.counts.get(S.CONFIRMED, 0)

    @property
    def seats_left(self) -> int | None:
        return seats_left(self.event, self.confirmed)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def active(self) -> int:
        """Pending, confirmed or waiting: the people an unpublished event would leave hanging."""
        return sum(self.counts.get(s, 0) for s in ACTIVE_STATUSES)

    @cached_property
    def registration(self) -> RegistrationState:
        return registration_state_now(self.event, self.programme, self.confirmed)


def event_with_programme(session: Session, slug: str) -> tuple[Event, Programme | None]:
    row = session.execute(
        select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id).where(Event.slug == slug)
    ).first()
    if row is None:
        raise NotFound(f"There is no event with the address name {slug!r}.")
    return row


def _numbers(session: Session, event: Event, cache: NumbersCache | None) -> EventNumbers:
    return cache.numbers(session, event) if cache is not None else event_numbers(session, event)


def roster(session: Session, slug: str, query: RosterQuery, cache: NumbersCache | None = None) -> Roster:
    """Everything the event's roster page shows; the counts and chart from `cache` if given."""
    event, programme = event_with_programme(session, slug)
    numbers = _numbers(session, event, cache)
    counts = numbers.counts
    # Without a search the status counts already say how many rows match.
    matching = None
    if not query.q:
        matching = counts.get(query.status.value, 0) if query.status else sum(counts.values())
    page = roster_page(session, event.id, query, matching)
    return Roster(
        event, programme, counts, numbers.checked_in, numbers.chart, page,
        audit.event_trail(session, event.id, event.timezone, limit=10),
    )


# --- one registration, the event's trail, the door -------------------------------------------


@dataclass(frozen=True)
class RegistrationDetail:
    registration: Registration
    event: Event
    programme: Programme | None
    waitlist_position: int | None
    trail: list[audit.TrailEntry]


def registration_detail(session: Session, registration_id: int) -> RegistrationDetail:
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("There is no such registration.")
    event = session.get_one(Event, registration.event_id)
    programme = session.get(Programme, event.programme_id) if event.programme_id else None
    return RegistrationDetail(
        registration, event, programme, waitlist_position(session, registration),
        audit.registration_trail(session, registration.id, event.timezone),
    )


@dataclass(frozen=True)
class EventTrail:
    event: Event
    entries: list[audit.TrailEntry]
    next_before: int | None


def event_audit(session: Session, slug: str, *, before_id: int | None = None, limit: int = 100) -> EventTrail:
    event, _ = event_with_programme(session, slug)
    entries = audit.event_trail(session, event.id, event.timezone, before_id=before_id, limit=limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return EventTrail(event, entries, entries[-1].id if more and entries else None)


@dataclass(frozen=True)
class CheckIn:
    event: Event
    people: list[Registration]
    more: bool
    confirmed: int
    checked_in: int


def check_in_list(session: Session, slug: str, q: str = "", *, limit: int = 30) -> CheckIn:
    """Confirmed registrations matching a search, by name, for the door."""
    event, _ = event_with_programme(session, slug)
    conditions: list[ColumnElement[bool]] = [Registration.event_id == event.id, Registration.status == S.CONFIRMED]
    if q:
        conditions.append(_search(session, q))
        ids = _search_ids(session, event.id, [S.CONFIRMED], q)
        if ids is not None:
            conditions = [Registration.id.in_(ids)]
    people = list(
        session.scalars(select(Registration).where(*conditions).order_by(Registration.name, Registration.id).limit(limit + 1))
    )
    # Counted afresh, not from a NumbersCache: at the door every check-in changes the data,
    # and these two counts cost a third of the chart and counts the roster page keeps.
    confirmed = session.scalar(
        select(func.count()).select_from(Registration).where(Registration.event_id == event.id, Registration.status == S.CONFIRMED)
    ) or 0
    checked_in = session.scalar(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == event.id, Registration.checked_in_at.is_not(None)
        )
    ) or 0
    return CheckIn(event, people[:limit], len(people) > limit, confirmed, checked_in)


# --- asking before cancelling ----------------------------------------------------------------


@dataclass(frozen=True)
class CancelPreview:
    """What cancelling the selected registrations would do, for the page that asks first."""

    event: Event
    # The selected registrations on this event's roster that are still active, in the order
    # the action takes them; the rest would be skipped.
    active: list[Registration]
    skipped: int
    # Confirmed seats the cancelling frees, and how many on the waiting list would then be
    # given a seat (fill_free_seats, after the cancelling: people selected are not waiting).
    seats_freed: int
    promotions: int


def cancel_preview(session: Session, slug: str, registration_ids: list[int]) -> CancelPreview:
    if len(registration_ids) > MAX_BULK:
        raise InvalidInput(f"Select at most {MAX_BULK} registrations at a time.")
    event = get_event(session, slug)
    selected = list(session.scalars(
        select(Registration)
        .where(Registration.event_id == event.id, Registration.id.in_(set(registration_ids)))
        .order_by(Registration.created_at, Registration.id)
    ))
    active = [r for r in selected if r.status in ACTIVE_STATUSES]
    seats_freed, promotions = seats_after_cancelling(session, event, active)
    return CancelPreview(
        event=event, active=active, skipped=len(set(registration_ids)) - len(active),
        seats_freed=seats_freed, promotions=promotions,
    )


def registration_cancel_preview(session: Session, registration_id: int) -> CancelPreview:
    """cancel_preview for one registration, from its own page."""
    return cancel_preview(session, event_slug_of(session, registration_id), [registration_id])

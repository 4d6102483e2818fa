"""Reading rosters for organisers: a filtered, sorted, paginated table that stays fast at
100,000 registrations, with its counts and chart (numbers.py); one registration with its
trail; the event's trail; and what a cancellation would do, asked before it is done. The door
is in door.py, the export in exports.py.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from portal import audit
from portal.db import utcnow
from portal.errors import InvalidInput, NotFound
from portal.models import ACTIVE_STATUSES, Event, Programme, Registration, RegistrationStatus, event_by_slug, find_event
from portal.questions import store
from portal.registrations.actions import MAX_BULK, event_slug_of
from portal.registrations.attendance import first_check_ins
from portal.registrations.availability import RegistrationState, registration_state_now
from portal.registrations.checkins import day_of, event_days
from portal.registrations.endorsement import endorsement_label
from portal.registrations.seats import seats_after_cancelling, seats_left, waitlist_position
from portal.rosters import search
from portal.rosters.answers import (
    AnswerColumn,
    Cell,
    RosterAnswers,
    answer_columns,
    answer_filter,
    choice_counts,
    deciders,
    roster_answers,
    row_cells,
    text_function,
)
from portal.rosters.attendance import Attendance, Came, attended_days, event_attendance
from portal.rosters.labels import earlier_labels
from portal.rosters.numbers import Chart, EventNumbers, NumbersCache, event_numbers
from portal.rosters.scanner import DoorEntry, check_ins_of

S = RegistrationStatus


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
    question: str = ""  # with answer: only those who gave that answer to this question
    answer: str = ""
    # False for a door volunteer: the search finds names and organisations, never by email.
    search_email: bool = True


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


def _filters(session: Session, event_id: int, query: RosterQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Registration.event_id == event_id]
    if query.status is not None:
        conditions.append(Registration.status == query.status)
    if query.q:
        conditions.append(search.matches(session, query.q, email=query.search_email))
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


def roster_page(
    session: Session, event_id: int, query: RosterQuery, matching: int | None = None,
    conditions: tuple[ColumnElement[bool], ...] = (),
) -> RosterPage:
    """One page of an event's roster: filtered, searched, sorted, and read by cursor.
    `conditions` narrow it further (an answer filter); then `matching` is counted."""
    if query.sort not in SORTS:
        raise InvalidInput("The roster cannot be sorted by that column.")
    segments = _segments(query.sort, query.descending)
    base = [*_filters(session, event_id, query), *conditions]
    more_than = False
    if query.q:
        ids = search.matching_ids(
            session, event_id, [query.status] if query.status else list(S), query.q, email=query.search_email,
        )
        if ids is None:
            matching, more_than = (None, False) if conditions else (search.MAX_COUNT, True)
        else:
            base, matching = [Registration.id.in_(ids), *conditions], None if conditions else len(ids)
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
            capped = select(Registration.id).where(*base).limit(search.MAX_COUNT + 1).subquery()
            matching = session.scalar(select(func.count()).select_from(capped)) or 0
            more_than = matching > search.MAX_COUNT
            matching = min(matching, search.MAX_COUNT)
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
    answers: RosterAnswers | None = None
    # Attendance per day (attendance.py): the event's, and the days each row came (an event
    # of several days only).
    attendance: Attendance | None = None
    attended: dict[int, Came] = field(default_factory=dict)

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


def _numbers(session: Session, event: Event, cache: NumbersCache | None) -> EventNumbers:
    return cache.numbers(session, event) if cache is not None else event_numbers(session, event)


def roster(session: Session, slug: str, query: RosterQuery, cache: NumbersCache | None = None) -> Roster:
    """Everything the event's roster page shows; the counts and chart from `cache` if given."""
    event, programme = find_event(session, slug)
    numbers = _numbers(session, event, cache)
    counts = numbers.counts
    form = store.form_for_event(session, event)
    definition = store.definition(form)
    question, answer, conditions = answer_filter(session, definition, query.question, query.answer)
    # Without a search or an answer filter the status counts already say how many rows match.
    matching = None
    if not query.q and not conditions:
        matching = counts.get(query.status.value, 0) if query.status else sum(counts.values())
    page = roster_page(session, event.id, query, matching, conditions)

    def count_answers() -> list[Any]:
        return choice_counts(session, event.id, definition)

    per_choice: list[Any] = []
    if deciders(definition):
        kept = ("answers", form.id, form.version) if form is not None else ("answers",)
        per_choice = cache.other(session, event, kept, count_answers) if cache is not None else count_answers()
    return Roster(
        event, programme, counts, numbers.checked_in, numbers.chart, page,
        audit.event_trail(session, event.id, event.timezone, limit=10),
        roster_answers(definition, page.rows, per_choice, question, answer, event.timezone),
        event_attendance(session, event, cache), attended_days(session, event, page.rows),
    )


@dataclass(frozen=True)
class RegistrationDetail:
    registration: Registration
    event: Event
    programme: Programme | None
    waitlist_position: int | None
    trail: list[audit.TrailEntry]
    # The answers by question, as the roster shows them (with the keys the form has not).
    answers: list[tuple[AnswerColumn, Cell]] = field(default_factory=list)
    endorsement: str = ""
    # The event's days, the one a check-in counts for now, and the days this registration
    # came with the first check-in of each.
    days: list[date] = field(default_factory=list)
    today: date | None = None
    attended: dict[date, datetime] = field(default_factory=dict)
    # Every check-in, door by door (two doors may have admitted the same ticket offline).
    check_ins: list[DoorEntry] = field(default_factory=list)


def registration_detail(session: Session, registration_id: int, *, now: datetime | None = None) -> RegistrationDetail:
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("There is no such registration.")
    event = session.get_one(Event, registration.event_id)
    programme = session.get(Programme, event.programme_id) if event.programme_id else None
    given = registration.answers if isinstance(registration.answers, dict) else {}
    form = store.definition_for_event(session, event)
    gone = [k for k in sorted(given) if k not in form.by_key()]
    columns = answer_columns(form, sorted(given), labels=earlier_labels(session, event, gone))
    cells = row_cells(columns, [text_function(c.question) for c in columns], given, sealed=bool(registration.sealed_answers))
    return RegistrationDetail(
        registration, event, programme, waitlist_position(session, registration),
        audit.registration_trail(session, registration.id, event.timezone),
        # A retired question nobody answered here says nothing.
        [(c, cell) for c, cell in zip(columns, cells, strict=True) if cell.text or cell.masked or (c.question is not None and not c.question.retired)],
        endorsement_label(registration, event.timezone),
        event_days(event), day_of(event, now or utcnow()), first_check_ins(session, event, [registration])[registration.id],
        check_ins_of(session, registration.id),
    )


@dataclass(frozen=True)
class EventTrail:
    event: Event
    entries: list[audit.TrailEntry]
    next_before: int | None


def event_audit(session: Session, slug: str, *, before_id: int | None = None, limit: int = 100) -> EventTrail:
    event, _ = find_event(session, slug)
    entries = audit.event_trail(session, event.id, event.timezone, before_id=before_id, limit=limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return EventTrail(event, entries, entries[-1].id if more and entries else None)


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
    event = event_by_slug(session, slug)
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

"""An event's numbers for the back office: registrations by status, how many are checked in,
and registrations per day; and a per-process cache of them.

Counting 100,000 registrations by status and by day reads 200,000 index entries, two thirds
of the roster page's work, and an organiser paging, sorting and searching a roster asks for
the same numbers over and over while nothing changes. NumbersCache keeps them until the
event's registrations change, which every process can tell from the event's seats_version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from portal.models import Event, Registration, RegistrationStatus

S = RegistrationStatus
T = TypeVar("T")


@dataclass(frozen=True)
class Chart:
    """Registrations per day (or per week, over a long span) in the event's time zone."""

    unit: str  # "day" or "week"
    buckets: list[tuple[date, int]]

    # Cached: the chart's template asks for the peak once per bar.
    @cached_property
    def peak(self) -> int:
        return max((n for _, n in self.buckets), default=0)

    @cached_property
    def total(self) -> int:
        return sum(n for _, n in self.buckets)


MAX_DAYS = 120


@lru_cache(maxsize=32)
def _range_count_statement(buckets: int) -> Select[Any]:
    """One statement that counts `buckets` ranges of created_at: each count is a range of the
    (event_id, created_at, id) index, so nothing is grouped or sorted. Built once per number of
    buckets, with the event and the edges as parameters: building and compiling sixty
    subqueries took longer than the database took to count them."""
    event_id = bindparam("event_id")
    edges = [bindparam(f"edge_{i}", type_=Registration.created_at.type) for i in range(buckets + 1)]
    return select(*(
        select(func.count()).select_from(Registration).where(
            Registration.event_id == event_id, Registration.created_at >= start, Registration.created_at < end
        ).scalar_subquery()
        for start, end in pairwise(edges)
    ))


def _range_counts(session: Session, event_id: int, edges: list[datetime]) -> list[int]:
    """How many registered in each [edges[i], edges[i+1])."""
    if len(edges) < 2:
        return []
    params = {"event_id": event_id, **{f"edge_{i}": edge for i, edge in enumerate(edges)}}
    return [n or 0 for n in session.execute(_range_count_statement(len(edges) - 1), params).one()]


def registrations_chart(session: Session, event: Event) -> Chart:
    """Registrations per local day (per week over a long span), from the first to the last."""
    # Two statements: SQLite reads min() or max() off the index only when it is alone.
    of_event = select(Registration.created_at).where(Registration.event_id == event.id)
    first = session.scalar(of_event.order_by(Registration.created_at).limit(1))
    last = session.scalar(of_event.order_by(Registration.created_at.desc()).limit(1))
    if first is None:
        return Chart("day", [])
    zone = ZoneInfo(event.timezone)
    day, last_day = first.astimezone(zone).date(), last.astimezone(zone).date()
    unit, step = "day", timedelta(days=1)
    if (last_day - day).days >= MAX_DAYS:
        unit, step = "week", timedelta(days=7)
        day -= timedelta(days=day.weekday())
    starts = []
    while day <= last_day:
        starts.append(day)
        day += step
    # Local midnights, so a bucket is a day where the event is, DST and all.
    edges = [datetime.combine(d, time.min, tzinfo=zone) for d in [*starts, starts[-1] + step]]
    return Chart(unit, list(zip(starts, _range_counts(session, event.id, edges), strict=True)))


def _status_count_statement() -> Select[Any]:
    event_id = bindparam("event_id")
    base = select(func.count()).select_from(Registration).where(Registration.event_id == event_id)
    columns = [base.where(Registration.status == status).scalar_subquery() for status in S]
    columns.append(base.where(Registration.checked_in_at.is_not(None)).scalar_subquery())
    return select(*columns)


_STATUS_COUNTS = _status_count_statement()


def status_counts(session: Session, event_id: int) -> tuple[dict[str, int], int]:
    """({status: count}, checked in) for one event, each an index range count."""
    *by_status, checked_in = session.execute(_STATUS_COUNTS, {"event_id": event_id}).one()
    return {status.value: n for status, n in zip(S, by_status, strict=True) if n}, checked_in or 0


@dataclass(frozen=True)
class EventNumbers:
    counts: dict[str, int]  # registrations by status (statuses with none left out)
    checked_in: int
    chart: Chart


def event_numbers(session: Session, event: Event) -> EventNumbers:
    """The event's counts by status, how many are checked in, and its chart."""
    counts, checked_in = status_counts(session, event.id)
    return EventNumbers(counts, checked_in, registrations_chart(session, event))


class NumbersCache:
    """Events' numbers, kept per process with the event's seats_version (and updated_at) they
    were counted at, and given out again while those stay as they were.

    Every transaction that writes an event's registrations raises its seats_version
    (db.transaction), and every edit of the event its updated_at, so unchanged values mean
    unchanged numbers. They are read (one lookup by primary key) before the counting: a
    change committed in between can only make the kept numbers newer than their version
    says, and then they are counted again at the next request. A write that goes around
    db.transaction (by hand, in SQL) leaves the numbers as they were until the event's next
    change through the portal.

    Bounded in bytes by its shape: at most `size` events, keyed by event id (an integer no
    client chooses), each with six counts and a chart of at most MAX_DAYS bars, a few
    kilobytes an event.
    """

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._kept: OrderedDict[int, tuple[Any, EventNumbers]] = OrderedDict()
        self._others: OrderedDict[tuple[int, Hashable], tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def _version(self, session: Session, event: Event) -> Any:
        return session.execute(select(Event.seats_version, Event.updated_at).where(Event.id == event.id)).one()

    def other(self, session: Session, event: Event, key: Hashable, compute: Callable[[], T]) -> T:
        """Something else counted from the event's registrations (the answers per choice),
        kept like the numbers; `key` names whatever else it depends on (the form's version).
        At most `size` are kept, whatever their keys."""
        version = self._version(session, event)
        slot = (event.id, key)
        with self._lock:
            kept = self._others.get(slot)
            if kept is not None and kept[0] == version:
                self._others.move_to_end(slot)
                return kept[1]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._others[slot] = (version, value)
            self._others.move_to_end(slot)
            while len(self._others) > self._size:
                self._others.popitem(last=False)
        return value

    def numbers(self, session: Session, event: Event) -> EventNumbers:
        version = self._version(session, event)
        with self._lock:
            kept = self._kept.get(event.id)
            if kept is not None and kept[0] == version:
                self._kept.move_to_end(event.id)
                return kept[1]
        numbers = event_numbers(session, event)
        with self._lock:
            self._kept[event.id] = (version, numbers)
            self._kept.move_to_end(event.id)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return numbers

"""Subscribers in the back office: how many there are per programme, category and frequency,
a searchable list, the CSV export, and removing one. Addresses are shown to organisers
only, and never written to the audit log (removal is logged by the subscriber's id)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from portal.audit import Actor, record
from portal.db import utcnow
from portal.errors import NotFound
from portal.models import Frequency, Programme, Subscriber
from portal.paging import Paged, clamp_page, offset
from portal.text import like_pattern

BATCH = 1000
# A cell a spreadsheet would run as a formula gets a leading apostrophe, as the roster's CSV
# export does (rosters.exports; a sibling package, so the rule is repeated, not imported).
_FORMULA_START = frozenset("=+-@\t\r")


def neutralise(value: str) -> str:
    return "'" + value if value[:1] in _FORMULA_START else value


@dataclass(frozen=True)
class Tally:
    """How many confirmed subscribers asked for one programme or category."""

    key: str
    name: str
    count: int


@dataclass(frozen=True)
class SubscriberCounts:
    confirmed: int
    pending: int
    # Confirmed subscribers who asked for every programme ([]), and per programme asked for.
    all_programmes: int
    programmes: list[Tally]
    all_categories: int
    categories: list[Tally]
    frequencies: dict[str, int]


def _listed(raw: Any) -> list[str]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def subscriber_counts(session: Session) -> SubscriberCounts:
    """Confirmed subscribers per programme, category and frequency, and how many wait to
    confirm. The database groups the subscribers by their choices (few distinct lists, however
    many subscribers); the lists are counted here, so both engines read JSON the same way."""
    query = (
        select(cast(Subscriber.programmes, Text), cast(Subscriber.categories, Text), Subscriber.frequency, func.count())
        .where(Subscriber.confirmed_at.is_not(None))
        .group_by(cast(Subscriber.programmes, Text), cast(Subscriber.categories, Text), Subscriber.frequency)
    )
    programmes: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    frequencies = {f.value: 0 for f in Frequency}
    confirmed = all_programmes = all_categories = 0
    for raw_programmes, raw_categories, frequency, count in session.execute(query):
        confirmed += count
        frequencies[Frequency(frequency).value] += count
        codes, cats = set(_listed(raw_programmes)), set(_listed(raw_categories))
        all_programmes += count if not codes else 0
        all_categories += count if not cats else 0
        programmes.update({code: count for code in codes})
        categories.update({cat: count for cat in cats})
    names = {code: name for code, name in session.execute(select(Programme.code, Programme.name))}
    programme_tallies = [Tally(code, names.get(code, code), programmes.get(code, 0)) for code in names]
    # A code that is no longer a programme still counts: the subscriber asked for it.
    programme_tallies += [Tally(code, code, n) for code, n in sorted(programmes.items()) if code not in names]
    pending = session.scalar(select(func.count()).select_from(Subscriber).where(Subscriber.confirmed_at.is_(None))) or 0
    return SubscriberCounts(
        confirmed, pending, all_programmes, sorted(programme_tallies, key=lambda t: (-t.count, t.name.lower())),
        all_categories, [Tally(c, c, n) for c, n in sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))], frequencies,
    )


@dataclass(frozen=True)
class SubscribersPage(Paged):
    rows: list[Subscriber]
    counts: SubscriberCounts
    programme_names: dict[str, str]
    q: str | None
    page: int
    per_page: int
    total: int


def list_subscribers(session: Session, *, q: str | None = None, page: int = 1, per_page: int = 50) -> SubscribersPage:
    """Subscribers newest first, those whose address contains `q` if given, with the counts."""
    conditions = [Subscriber.email.like(like_pattern(q), escape="\\")] if q else []
    total = session.scalar(select(func.count()).select_from(Subscriber).where(*conditions)) or 0
    page = clamp_page(page, total, per_page)
    rows = list(session.scalars(
        select(Subscriber).where(*conditions)
        .order_by(Subscriber.created_at.desc(), Subscriber.id.desc()).offset(offset(page, per_page)).limit(per_page)
    ))
    names = {code: name for code, name in session.execute(select(Programme.code, Programme.name))}
    return SubscribersPage(rows, subscriber_counts(session), names, q, page, per_page, total)


def header(timezone: str) -> list[str]:
    times = [f"Subscribed ({timezone})", f"Confirmed ({timezone})"]
    return ["ID", "Email", "Status", "Frequency", "Programmes", "Categories", *times]


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def export_rows(session: Session, timezone: str) -> Iterator[list[list[str]]]:
    """The header, then every subscriber a batch at a time, in id order, as CSV cells: text,
    times in `timezone` with the zone named, formulas neutralised. Read in the caller's
    transaction (one snapshot), streamed rather than loaded at once."""
    zone = ZoneInfo(timezone)
    yield [header(timezone)]
    result = session.execute(
        select(
            Subscriber.id, Subscriber.email, Subscriber.confirmed_at, Subscriber.frequency, Subscriber.programmes,
            Subscriber.categories, Subscriber.created_at,
        ).order_by(Subscriber.id).execution_options(yield_per=BATCH)
    )
    for batch in result.partitions():
        yield [
            [
                str(subscriber_id),
                neutralise(email),
                "confirmed" if confirmed_at else "awaiting confirmation",
                Frequency(frequency).value,
                neutralise("; ".join(_listed(programmes)) or "all"),
                neutralise("; ".join(_listed(categories)) or "all"),
                _local(created_at, zone),
                _local(confirmed_at, zone),
            ]
            for subscriber_id, email, confirmed_at, frequency, programmes, categories, created_at in batch
        ]


def subscriber(session: Session, subscriber_id: int) -> Subscriber:
    """One subscriber, or NotFound."""
    found = session.get(Subscriber, subscriber_id)
    if found is None:
        raise NotFound("There is no such subscriber: they may have left or been removed already.")
    return found


def remove_subscriber(session: Session, actor: Actor, subscriber_id: int, *, now: datetime | None = None) -> None:
    """Remove a subscriber for good: nothing more is sent to them. The audit log keeps the id,
    not the address."""
    found = subscriber(session, subscriber_id)
    was = "confirmed" if found.confirmed_at else "awaiting confirmation"
    session.delete(found)
    record(session, actor, "subscriber.remove", before={"subscriber": subscriber_id, "status": was}, now=now or utcnow())

"""The listing's search, beyond events: the sessions and speakers of public events whose title
or name holds every word typed, each with the event it belongs to.

A conference has a few hundred sessions and speakers, not the thousands of events the
full-text index serves, so a LIKE per word is enough: every word required, in any order, case
ignored (SQLite folds ASCII letters only), LIKE's own wildcards matched literally. The
listing's filters (upcoming or past, programme, category) apply to the events they belong to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from portal.db import utcnow
from portal.models import (
    PUBLIC_STATUSES,
    Event,
    EventSession,
    EventStatus,
    Programme,
    SessionKind,
    SessionSpeaker,
    SessionStatus,
    Speaker,
)
from portal.text import like_pattern, search_words

# Each list stops here: the search is a pointer to the timetable, not a second listing.
MAX_HITS = 6
# A speaker's line names this many of their events.
MAX_EVENTS_NAMED = 3


@dataclass(frozen=True)
class SessionHit:
    key: str
    title: str
    starts_at: datetime
    cancelled: bool
    event_slug: str
    event_title: str
    timezone: str


@dataclass(frozen=True)
class SpeakerHit:
    key: str
    name: str
    affiliation: str
    # (slug, title) of the events they speak at, soonest first; and how many more there are.
    events: tuple[tuple[str, str], ...]
    more_events: int = 0


@dataclass(frozen=True)
class TimetableHits:
    sessions: list[SessionHit] = field(default_factory=list)
    speakers: list[SpeakerHit] = field(default_factory=list)
    # More matched than are shown.
    more: bool = False

    def __bool__(self) -> bool:
        return bool(self.sessions or self.speakers)


def _every_word(column: InstrumentedAttribute[str], words: list[str]) -> ColumnElement[bool]:
    return and_(*(func.lower(column).like(like_pattern(word), escape="\\") for word in words))


def _event_conditions(
    now: datetime, *, past: bool, programme: str | None, category: str | None, during: tuple[datetime | None, datetime | None]
) -> list[ColumnElement[bool]]:
    conditions = [Event.status.in_(PUBLIC_STATUSES), Event.ends_at < now if past else Event.ends_at >= now]
    if programme:
        conditions.append(Event.programme_id.in_(select(Programme.id).where(Programme.code == programme)))
    if category:
        conditions.append(Event.category == category)
    after, before = during
    if after is not None:
        conditions.append(Event.ends_at > after)
    if before is not None:
        conditions.append(Event.starts_at < before)
    return conditions


def find_in_timetables(
    session: Session,
    q: str | None,
    *,
    past: bool = False,
    programme: str | None = None,
    category: str | None = None,
    during: tuple[datetime | None, datetime | None] = (None, None),
    now: datetime | None = None,
) -> TimetableHits:
    """Sessions (breaks and meals aside) and speakers matching every word of q, at the public
    events the listing's filters choose (`during`: events running after the first time and
    before the second); at most MAX_HITS of each."""
    words = search_words(q or "")
    if not words:
        return TimetableHits()
    now = now or utcnow()
    events = _event_conditions(now, past=past, programme=programme, category=category, during=during)
    order = (Event.starts_at.desc(), EventSession.starts_at.desc()) if past else (Event.starts_at, EventSession.starts_at)
    session_rows = session.execute(
        select(
            EventSession.key, EventSession.title, EventSession.starts_at, EventSession.status,
            Event.slug, Event.title, Event.timezone, Event.status,
        )
        .join(Event, Event.id == EventSession.event_id)
        .where(*events, EventSession.kind.not_in([k for k in SessionKind if k.quiet]), _every_word(EventSession.title, words))
        .order_by(*order, EventSession.id)
        .limit(MAX_HITS + 1)
    ).all()
    sessions = [
        SessionHit(key, title, starts_at, status == SessionStatus.CANCELLED or event_status == EventStatus.CANCELLED, slug, event_title, tz)
        for key, title, starts_at, status, slug, event_title, tz, event_status in session_rows[:MAX_HITS]
    ]
    speaks_at_such_event = exists(
        select(SessionSpeaker.session_id)
        .join(EventSession, EventSession.id == SessionSpeaker.session_id)
        .join(Event, Event.id == EventSession.event_id)
        .where(SessionSpeaker.speaker_id == Speaker.id, *events)
    )
    speaker_rows = session.execute(
        select(Speaker.id, Speaker.key, Speaker.name, Speaker.affiliation)
        .where(_every_word(Speaker.name, words), speaks_at_such_event)
        .order_by(Speaker.name, Speaker.id)
        .limit(MAX_HITS + 1)
    ).all()
    speakers = _with_events(session, speaker_rows[:MAX_HITS], events)
    return TimetableHits(sessions, speakers, more=len(session_rows) > MAX_HITS or len(speaker_rows) > MAX_HITS)


def _with_events(session: Session, rows: Sequence[Any], events: list[ColumnElement[bool]]) -> list[SpeakerHit]:
    """Each speaker with the events (matching the filters) they speak at, in one query."""
    if not rows:
        return []
    named: dict[int, dict[str, str]] = {row[0]: {} for row in rows}
    for speaker_id, slug, title in session.execute(
        select(SessionSpeaker.speaker_id, Event.slug, Event.title)
        .join(EventSession, EventSession.id == SessionSpeaker.session_id)
        .join(Event, Event.id == EventSession.event_id)
        .where(SessionSpeaker.speaker_id.in_(list(named)), *events)
        .order_by(Event.starts_at, Event.id)
    ):
        named[speaker_id].setdefault(slug, title)
    hits = []
    for speaker_id, key, name, affiliation in rows:
        events_of = list(named[speaker_id].items())
        hits.append(SpeakerHit(key, name, affiliation or "", tuple(events_of[:MAX_EVENTS_NAMED]), max(len(events_of) - MAX_EVENTS_NAMED, 0)))
    return hits

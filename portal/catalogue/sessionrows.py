"""A conference's sessions with their speakers, as the calendar feeds and the schedule exports
read them: whole Speaker rows (their GUIDs for the exports, their last change for the feeds'
cache keys and Last-Modified), in two queries whatever the number of sessions.

The public pages read theirs through catalogue/agenda.py, which also counts places taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import NotFound
from portal.models import Event, EventSession, SessionSpeaker, Speaker

# Enough ids for one IN (...) that every engine takes.
_CHUNK = 500


@dataclass(frozen=True)
class SessionRow:
    """One session and its speakers, in the order the session names them."""

    item: EventSession
    speakers: tuple[Speaker, ...]

    @property
    def changed(self) -> datetime:
        """The last change to anything the session's feed entry or export shows of it."""
        return max([self.item.updated_at, *(s.updated_at for s in self.speakers)])


def _speakers_of(session: Session, ids: Sequence[int]) -> dict[int, list[Speaker]]:
    found: dict[int, list[Speaker]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(SessionSpeaker.session_id, Speaker)
            .join(Speaker, Speaker.id == SessionSpeaker.speaker_id)
            .where(SessionSpeaker.session_id.in_(ids[start:start + _CHUNK]))
            .order_by(SessionSpeaker.session_id, SessionSpeaker.position)
        )
        for session_id, speaker in rows:
            found.setdefault(session_id, []).append(speaker)
    return found


def with_speakers(session: Session, items: Iterable[EventSession]) -> list[SessionRow]:
    """These sessions (in the order given) with their speakers: one query per 500 sessions."""
    items = list(items)
    speakers = _speakers_of(session, [i.id for i in items]) if items else {}
    return [SessionRow(i, tuple(speakers.get(i.id, ()))) for i in items]


def of_event(session: Session, event: Event) -> list[SessionRow]:
    """Every session of the event (breaks and cancelled ones too), in time order."""
    items = session.scalars(
        select(EventSession).where(EventSession.event_id == event.id).order_by(EventSession.starts_at, EventSession.id)
    )
    return with_speakers(session, items)


def by_ids(session: Session, ids: Iterable[int]) -> dict[int, SessionRow]:
    """The sessions with these ids, by id."""
    wanted = sorted(set(ids))
    items: list[EventSession] = []
    for start in range(0, len(wanted), _CHUNK):
        items.extend(session.scalars(select(EventSession).where(EventSession.id.in_(wanted[start:start + _CHUNK]))))
    return {row.item.id: row for row in with_speakers(session, items)}


def one(session: Session, event: Event, key: str) -> SessionRow:
    """The event's session at `key`, or NotFound."""
    item = session.scalar(select(EventSession).where(EventSession.event_id == event.id, EventSession.key == key))
    if item is None:
        raise NotFound(f"{event.title} has no session at /events/{event.slug}/sessions/{key}.")
    return with_speakers(session, [item])[0]

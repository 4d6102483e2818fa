"""A small conference for the feed and schedule tests: speakers and sessions written the way
the import and the back office write them (catalogue/timetable.py), so SEQUENCE and
updated_at follow the same rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.catalogue.timetable import apply_speakers, save_session, speaker_keys_of
from portal.db import utcnow
from portal.models import Event, EventSession, Registration, SessionChoice, SessionKind, SessionStatus

SPEAKERS = [
    {"key": "tan-ah-kow", "name": "Dr Tan Ah Kow", "affiliation": "RSIS", "title": "Senior Fellow", "bio": "Works on *cohesion*."},
    {"key": "siti-rahman", "name": "Siti Rahman", "affiliation": "", "title": "", "bio": ""},
    {"key": "jose-garcia", "name": "José García", "affiliation": "Universidad de Chile", "title": "Professor", "bio": ""},
]


def session_values(key: str, title: str, starts: datetime, minutes: int, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "key": key, "title": title, "kind": SessionKind.TALK, "starts_at": starts, "ends_at": starts + timedelta(minutes=minutes),
        "room": "", "track": None, "description": "", "choose": False, "places": None, "waitlist": False,
        "check_in": False, "status": SessionStatus.SCHEDULED, "speakers": [],
    }
    values.update(extra)
    return values


def add_timetable(run: Callable[..., Any], event: Event, sessions: list[dict[str, Any]], speakers: list[dict[str, Any]] | None = None) -> dict[str, EventSession]:
    """Write the speakers and sessions; the sessions by key."""

    def _write(session: Session) -> dict[str, EventSession]:
        apply_speakers(session, SPEAKERS if speakers is None else speakers, now=utcnow())
        target = session.get(Event, event.id)
        assert target is not None
        return {values["key"]: save_session(session, target, values, now=utcnow()).session for values in sessions}

    return run(_write)


def edit_session(run: Callable[..., Any], event: Event, key: str, **changes: Any) -> EventSession:
    """Change a session as the timetable editor does (save_session: SEQUENCE rules)."""

    def _edit(session: Session) -> EventSession:
        target = session.get(Event, event.id)
        item = session.scalars(select(EventSession).where(EventSession.event_id == event.id, EventSession.key == key)).one()
        values = {name: getattr(item, name) for name in (
            "key", "title", "kind", "starts_at", "ends_at", "room", "track", "description", "choose", "places", "waitlist",
            "check_in", "status",
        )}
        values["speakers"] = speaker_keys_of(session, item.id)
        values.update(changes)
        assert target is not None
        return save_session(session, target, values, now=utcnow(), existing=item).session

    return run(_edit)


def choose(run: Callable[..., Any], registration: Registration, item: EventSession, *, waiting: bool = False) -> None:
    """The registration chose the session (placed directly, bypassing the places rules)."""

    def _add(session: Session) -> None:
        session.add(SessionChoice(
            registration_id=registration.id, session_id=item.id, event_id=item.event_id, waiting=waiting,
            waiting_since=utcnow() if waiting else None,
        ))

    run(_add)

"""Putting a conference's programme in place for a test: speakers, sessions and choices,
written the way the import and the back office write them (catalogue/timetable.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.catalogue.timetable import apply_speakers, save_session
from portal.db import utcnow
from portal.models import Event, EventSession, Registration, SessionChoice, SessionKind, SessionStatus

Run = Callable[..., Any]


def add_speakers(run: Run, *speakers: dict[str, Any]) -> None:
    """add_speakers(run, {"key": "tan", "name": "Dr Tan"}, ...): created or updated by key."""
    records = [{"affiliation": "", "title": "", "bio": "", **s} for s in speakers]
    run(apply_speakers, records, now=utcnow())


def add_session(run: Run, event: Event, key: str, starts_at: datetime, ends_at: datetime, **values: Any) -> EventSession:
    """A session of `event`; values as the import's (speakers are keys)."""
    record: dict[str, Any] = {
        "key": key, "title": values.pop("title", key.replace("-", " ").title()), "kind": SessionKind.TALK,
        "starts_at": starts_at, "ends_at": ends_at, "room": "", "track": None, "description": "",
        "choose": False, "places": None, "waitlist": False, "check_in": False, "status": SessionStatus.SCHEDULED,
        "speakers": [],
    }
    record.update(values)

    def _save(session: Session) -> EventSession:
        return save_session(session, session.get(Event, event.id), record, now=utcnow()).session

    return run(_save)


def choose(run: Run, registration: Registration, chosen: EventSession, *, waiting: bool = False) -> None:
    """The registration holds a place in (or, `waiting`, waits for) the session."""

    def _add(session: Session) -> None:
        session.add(SessionChoice(
            registration_id=registration.id, session_id=chosen.id, event_id=chosen.event_id,
            waiting=waiting, waiting_since=utcnow() if waiting else None,
        ))

    run(_add)

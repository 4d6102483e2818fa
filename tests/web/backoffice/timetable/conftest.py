"""Fixtures for the timetable editor's tests: a conference of two days in Singapore with
speakers and sessions, and choices made directly (bypassing the registration form)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.catalogue.timetable import apply_speakers, save_session
from portal.db import utcnow
from portal.models import Event, EventSession, SessionChoice, SessionKind

SGT = ZoneInfo("Asia/Singapore")


def day_one() -> datetime:
    """09:00 in Singapore, about 60 days ahead."""
    return (utcnow() + timedelta(days=60)).astimezone(SGT).replace(hour=9, minute=0, second=0, microsecond=0)


def local(value: datetime) -> str:
    """A time as the form's datetime-local box sends it."""
    return value.astimezone(SGT).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def conference(make_event: Callable[..., Event]) -> Event:
    """A published conference of two days, 09:00 on day one to 17:00 on day two (Singapore)."""
    start = day_one()
    return make_event(slug="iccs-test", title="ICCS Test", starts_at=start, ends_at=start + timedelta(days=1, hours=8), capacity=100)


@pytest.fixture
def speakers(run: Callable[..., Any]) -> list[str]:
    people = [
        {"key": "tan-ah-kow", "name": "Dr Tan Ah Kow", "affiliation": "RSIS", "title": "Professor", "bio": "Works on **cohesion**."},
        {"key": "siti-rahman", "name": "Siti Rahman", "affiliation": "NUS", "title": "", "bio": ""},
        {"key": "lee-wei", "name": "Lee Wei", "affiliation": "", "title": "", "bio": ""},
    ]
    run(apply_speakers, people, now=utcnow())
    return [p["key"] for p in people]


@pytest.fixture
def add_session(run: Callable[..., Any]) -> Callable[..., EventSession]:
    """add_session(event, key, start_hours=0, hours=1, **values): a session `start_hours`
    after the event's start."""

    def _add(event: Event, key: str, start_hours: float = 0, hours: float = 1, **values: Any) -> EventSession:
        starts = event.starts_at + timedelta(hours=start_hours)
        data: dict[str, Any] = {
            "key": key, "title": key.replace("-", " ").title(), "kind": SessionKind.TALK, "starts_at": starts,
            "ends_at": starts + timedelta(hours=hours), "room": "", "track": None, "description": "", "speakers": [],
            "choose": False, "places": None, "waitlist": False, "check_in": False,
        }
        data.update(values)

        def _write(session: Any) -> EventSession:
            return save_session(session, session.get(Event, event.id), data, now=utcnow()).session

        return run(_write)

    return _add


@pytest.fixture
def choose(run: Callable[..., Any]) -> Callable[..., None]:
    """choose(registration, session, waiting=False, at=None): the registration chose it."""

    def _choose(registration: Any, chosen: EventSession, waiting: bool = False, at: datetime | None = None) -> None:
        at = at or utcnow()

        def _write(session: Any) -> None:
            session.add(SessionChoice(
                registration_id=registration.id, session_id=chosen.id, event_id=chosen.event_id, waiting=waiting,
                waiting_since=at if waiting else None, created_at=at,
            ))

        run(_write)

    return _choose


def session_row(sessions: Any, event: Event, key: str) -> EventSession | None:
    with sessions() as session:
        return session.scalar(select(EventSession).where(EventSession.event_id == event.id, EventSession.key == key))

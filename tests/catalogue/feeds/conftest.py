"""Helpers for the feed tests: parse a feed with two independent parsers, edit events the way
the import does, and count the SQL a request runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import icalendar
import pytest
import vobject
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.calendars import ical as builder
from portal.catalogue.imports import apply_event_values
from portal.db import utcnow
from portal.models import Event


@dataclass
class Parsed:
    """One iCalendar body as icalendar and vobject read it, VEVENTs keyed by UID."""

    text: str
    ical: icalendar.Calendar
    vobj: Any

    @property
    def uids(self) -> list[str]:
        return [str(e["UID"]) for e in self.ical.walk("VEVENT")]

    def event(self, uid: str) -> icalendar.Event:
        found = [e for e in self.ical.walk("VEVENT") if str(e["UID"]) == uid]
        assert len(found) == 1, f"{uid} appears {len(found)} times"
        return found[0]

    def vevent(self, uid: str) -> Any:
        found = [e for e in getattr(self.vobj, "vevent_list", []) if e.uid.value == uid]
        assert len(found) == 1, f"{uid} appears {len(found)} times in vobject's reading"
        return found[0]


def check_lines(body: bytes) -> None:
    """RFC 5545 §3.1: CRLF line ends, no line longer than 75 octets, folds split no character."""
    assert body.endswith(b"\r\n")
    assert b"\n" not in body.replace(b"\r\n", b"")
    for line in body.split(b"\r\n"):
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold inside a multi-byte character would not decode


def parse(body: bytes) -> Parsed:
    check_lines(body)
    text = body.decode("utf-8")
    ical = icalendar.Calendar.from_ical(text)
    vobj = vobject.readOne(text)
    # The two parsers agree on which events there are.
    assert sorted(str(e["UID"]) for e in ical.walk("VEVENT")) == sorted(e.uid.value for e in getattr(vobj, "vevent_list", []))
    return Parsed(text, ical, vobj)


@pytest.fixture(autouse=True)
def _fresh_vevent_cache() -> Iterator[None]:
    builder.vevent_blocks.clear()
    yield
    builder.vevent_blocks.clear()


@pytest.fixture
def edit_event(run: Callable[..., Any]) -> Callable[..., Event]:
    """edit_event(slug, **values): change an event as `portal import` does (SEQUENCE rules)."""

    def _edit(slug: str, **values: Any) -> Event:
        def _apply(session: Session) -> Event:
            event = session.scalars(select(Event).where(Event.slug == slug)).one()
            apply_event_values(event, values, now=utcnow())
            session.flush()
            return event

        return run(_apply)

    return _edit


@pytest.fixture
def statements(app: Any) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs from now on."""
    seen: list[str] = []

    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = app.state.engine
    sa_event.listen(engine, "before_cursor_execute", _record)
    yield seen
    sa_event.remove(engine, "before_cursor_execute", _record)

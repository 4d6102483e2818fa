"""A conference's timetable, written: speakers and sessions from the import file and from the
back office's editor, checked the same way (a session lies within its event, ends after it
starts, names speakers that exist), and the SEQUENCE rule (a session's time, room or status
changing moves it in somebody's calendar).

Records in the import file:
- top level `speakers`: key, name; optional affiliation, title, bio (Markdown);
- an event's `sessions`: key, title, starts_at, ends_at; optional kind (keynote, panel,
  workshop, talk, break, meal; default talk), room, track, description (Markdown), speakers
  (keys), choose (participants pick it), places (null: no limit), waitlist, check_in,
  status (scheduled or cancelled).
Both are matched by key: importing the same file again changes nothing. A session the file
does not name is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.catalogue.records import SLUG, Record, no_repeats
from portal.errors import ImportProblem
from portal.models import Event, EventSession, SessionKind, SessionSpeaker, SessionStatus, Speaker

SPEAKER_KEYS = ("key", "name", "affiliation", "title", "bio")
SESSION_KEYS = (
    "key", "title", "kind", "starts_at", "ends_at", "room", "track", "description", "speakers",
    "choose", "places", "waitlist", "check_in", "status",
)
# Changing one of these moves the session in a participant's calendar: SEQUENCE rises, and
# those who chose it are told.
SESSION_SCHEDULE_FIELDS = ("starts_at", "ends_at", "room", "status")


class SessionProblem(ValueError):
    """A session's values that cannot stand; `field` names the field at fault, if one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def read_speakers(raw: Any) -> list[dict[str, Any]]:
    """The file's `speakers`, each checked; ImportProblem names the record."""
    if not isinstance(raw, list):
        raise ImportProblem('"speakers" must be a list')
    speakers = []
    for index, data in enumerate(raw):
        record = Record(f"speakers[{index}]", data)
        key = record.pattern("key", SLUG, "must be lowercase letters, digits and hyphens")
        record.where = f"speakers[{index}] (key {key!r})"
        record.only(SPEAKER_KEYS)
        speakers.append({
            "key": key,
            "name": record.text("name", required=True, max_length=200),
            "affiliation": record.text("affiliation", max_length=300),
            "title": record.text("title", max_length=300),
            "bio": record.text("bio", max_length=20_000, multiline=True),
        })
    no_repeats([s["key"] for s in speakers], "speakers", "key")
    return speakers


def read_sessions(where: str, raw: Any, starts_at: datetime, ends_at: datetime, speaker_keys: set[str]) -> list[dict[str, Any]]:
    """An event's `sessions` from the file, each checked against the event's times and the
    speakers known (in the file or the portal)."""
    if not isinstance(raw, list):
        raise ImportProblem(f"{where}: sessions: must be a list")
    sessions = []
    for index, data in enumerate(raw):
        record = Record(f"{where}: sessions[{index}]", data)
        key = record.pattern("key", SLUG, "must be lowercase letters, digits and hyphens")
        record.where = f"{where}: sessions[{index}] (key {key!r})"
        record.only(SESSION_KEYS)
        speakers = record.string_list("speakers")
        for speaker in speakers:
            if speaker not in speaker_keys:
                record.fail("speakers", f"{speaker!r} is not a speaker in this file or in the portal")
        values = {
            "key": key,
            "title": record.text("title", required=True, max_length=500),
            "kind": record.choice("kind", SessionKind, default=SessionKind.TALK),
            "starts_at": record.time("starts_at", required=True),
            "ends_at": record.time("ends_at", required=True),
            "room": record.text("room", max_length=200),
            "track": record.text("track", max_length=200) or None,
            "description": record.text("description", max_length=20_000, multiline=True),
            "choose": record.boolean("choose", False),
            "places": record.capacity("places"),
            "waitlist": record.boolean("waitlist", False),
            "check_in": record.boolean("check_in", False),
            "status": record.choice("status", SessionStatus, default=SessionStatus.SCHEDULED),
            "speakers": speakers,
        }
        try:
            check_session(values, starts_at, ends_at)
        except SessionProblem as exc:
            record.fail(exc.field, str(exc))
        sessions.append(values)
    no_repeats([s["key"] for s in sessions], f"{where}: sessions", "key")
    return sessions


def check_session(values: dict[str, Any], event_starts_at: datetime, event_ends_at: datetime) -> None:
    """SessionProblem if the session cannot stand as `values` say."""
    if values["ends_at"] <= values["starts_at"]:
        raise SessionProblem("must be after the start", "ends_at")
    if values["starts_at"] < event_starts_at or values["ends_at"] > event_ends_at:
        raise SessionProblem("the session must lie within the event's dates", "starts_at")
    kind = SessionKind(values["kind"])
    if values["choose"] and kind.quiet:
        raise SessionProblem(f"a {kind.value} cannot be chosen", "choose")
    if values["places"] is not None and not values["choose"]:
        raise SessionProblem("places apply only to a session participants choose (set choose)", "places")
    if values["waitlist"] and values["places"] is None:
        raise SessionProblem("a waiting list needs a number of places", "waitlist")


def apply_speakers(session: Session, speakers: list[dict[str, Any]], *, now: datetime) -> tuple[int, int]:
    """Create or update speakers by key: (created, updated)."""
    existing = {s.key: s for s in session.scalars(select(Speaker).where(Speaker.key.in_([v["key"] for v in speakers])))} if speakers else {}
    created = updated = 0
    for values in speakers:
        speaker = existing.get(values["key"])
        if speaker is None:
            session.add(Speaker(**values, created_at=now, updated_at=now))
            created += 1
            continue
        changed = False
        for key, value in values.items():
            if getattr(speaker, key) != value:
                setattr(speaker, key, value)
                changed = True
        if changed:
            speaker.updated_at = now
            updated += 1
    session.flush()
    return created, updated


@dataclass(frozen=True)
class SessionSaved:
    session: EventSession
    created: bool
    # The fields that changed (before, after), by name; speakers as lists of keys.
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def moved(self) -> bool:
        """Whether the change moves it in a calendar (time, room or status)."""
        return not self.created and any(k in self.after for k in SESSION_SCHEDULE_FIELDS)


def save_session(session: Session, event: Event, values: dict[str, Any], *, now: datetime, existing: EventSession | None = None) -> SessionSaved:
    """Create the session `values` describe, or update `existing` (or the event's session
    with that key). `values["speakers"]` are speaker keys, all known. Raises SEQUENCE when
    the time, room or status changed."""
    values = dict(values)
    speaker_keys: list[str] = values.pop("speakers")
    if existing is None:
        existing = session.scalar(select(EventSession).where(EventSession.event_id == event.id, EventSession.key == values["key"]))
    created = existing is None
    target = existing or EventSession(event_id=event.id, created_at=now, updated_at=now, sequence=0)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key, value in values.items():
        old = getattr(target, key, None)
        if created or old != value:
            if not created:
                before[key], after[key] = old, value
            setattr(target, key, value)
    if created:
        session.add(target)
        session.flush()
    old_speakers = [] if created else speaker_keys_of(session, target.id)
    if old_speakers != speaker_keys:
        if not created:
            before["speakers"], after["speakers"] = old_speakers, speaker_keys
        session.execute(delete(SessionSpeaker).where(SessionSpeaker.session_id == target.id))
        ids = dict(session.execute(select(Speaker.key, Speaker.id).where(Speaker.key.in_(speaker_keys))).all()) if speaker_keys else {}
        session.add_all(SessionSpeaker(session_id=target.id, speaker_id=ids[k], position=i) for i, k in enumerate(speaker_keys))
    if not created and any(k in after for k in SESSION_SCHEDULE_FIELDS):
        target.sequence = (target.sequence or 0) + 1
    if before or created:
        target.updated_at = now
    session.flush()
    return SessionSaved(target, created, before, after)


def speaker_keys_of(session: Session, session_id: int) -> list[str]:
    return list(session.scalars(
        select(Speaker.key).join(SessionSpeaker, SessionSpeaker.speaker_id == Speaker.id)
        .where(SessionSpeaker.session_id == session_id).order_by(SessionSpeaker.position)
    ))


def apply_sessions(session: Session, event: Event, sessions: list[dict[str, Any]], *, now: datetime) -> list[SessionSaved]:
    """The file's sessions of one event, created or updated by key; the changes made."""
    return [saved for values in sessions if (saved := save_session(session, event, values, now=now)).created or saved.after]


@dataclass(frozen=True)
class Clash:
    """Two sessions that cannot both happen: the same room, or the same speaker, at once."""

    what: str  # "room" or "speaker"
    name: str  # the room's or the speaker's name
    first: EventSession
    second: EventSession

    def __str__(self) -> str:
        where = "is used twice at once" if self.what == "room" else "is in two places at once"
        return f"{self.name} {where}: {self.first.title} and {self.second.title}"


def clashes(session: Session, event_id: int) -> list[Clash]:
    """Every room used by two sessions at once, and every speaker in two sessions at once,
    among the event's scheduled sessions (the editor warns of them; they are not refused:
    a room may be split, a speaker may chair one and drop into another)."""
    sessions = list(session.scalars(
        select(EventSession).where(EventSession.event_id == event_id, EventSession.status == SessionStatus.SCHEDULED)
        .order_by(EventSession.starts_at, EventSession.id)
    ))
    people: dict[int, list[tuple[int, str]]] = {}
    if sessions:
        rows = session.execute(
            select(SessionSpeaker.session_id, Speaker.id, Speaker.name).join(Speaker, Speaker.id == SessionSpeaker.speaker_id)
            .where(SessionSpeaker.session_id.in_([s.id for s in sessions]))
        )
        for session_id, speaker_id, name in rows:
            people.setdefault(session_id, []).append((speaker_id, name))
    found: list[Clash] = []
    for i, first in enumerate(sessions):
        for second in sessions[i + 1:]:
            if second.starts_at >= first.ends_at:
                break
            if first.room and first.room.casefold() == second.room.casefold():
                found.append(Clash("room", first.room, first, second))
            shared = {sid for sid, _ in people.get(first.id, [])} & {sid for sid, _ in people.get(second.id, [])}
            for speaker_id in sorted(shared):
                name = next(n for s, n in people[first.id] if s == speaker_id)
                found.append(Clash("speaker", name, first, second))
    return found

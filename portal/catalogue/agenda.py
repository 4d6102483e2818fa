"""Reading a conference's programme for the public pages: an event's timetable by day in its
own zone, one session, and a speaker with their sessions at every public event.

The timetable is read with a few queries whatever its size (the sessions, their speakers in
order, and the places taken when some session has places), never one per session. Drafts are
never shown: a session is public when its event is (published, or cancelled and said so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.calendars.ical import zone
from portal.db import utcnow
from portal.errors import NotFound
from portal.models import PUBLIC_STATUSES, Event, EventSession, Programme, SessionSpeaker, Speaker, find_event
from portal.registrations.seats import session_places_left, session_places_taken
from portal.site import path_for

# Past this many rooms the desktop timetable stops giving each room a column of its own: the
# sessions of a time then flow side by side, each naming its room, as on a phone.
MAX_COLUMNS = 6


@dataclass(frozen=True)
class SpeakerRef:
    """A speaker as the timetable names them: enough for a link and a line."""

    key: str
    name: str
    affiliation: str

    @property
    def path(self) -> str:
        """Their page's path (made here: a template's call per link cost more than the link)."""
        return path_for("show_speaker", key=self.key)


@dataclass(frozen=True)
class TimetableEntry:
    session: EventSession
    speakers: tuple[SpeakerRef, ...] = ()
    # Places held by participants who chose it; None when it has no places to count.
    taken: int | None = None
    # The room's column on a desktop (1 for the first room), None for no column of its own.
    column: int | None = None
    # Nothing else happens while it does (a plenary, a break): it spans the whole width.
    spans: bool = False
    # Its hours in the event's zone, "09:00–10:30" (the timetable names the zone once).
    hours: str = ""

    @cached_property
    def fingerprint(self) -> tuple[Any, ...]:
        """Everything the public pages show of it (its timetable entry, its JSON-LD): kept
        renderings of it are reused exactly while this is unchanged."""
        s = self.session
        return (
            s.id, s.key, s.title, str(s.kind), s.starts_at, s.ends_at, s.room, s.track, s.places, s.waitlist, str(s.status),
            self.taken, self.column, self.spans, self.hours, self.speakers,
        )

    @property
    def places_left(self) -> int | None:
        if self.session.cancelled:
            return None
        return session_places_left(self.session, self.taken or 0)

    @property
    def full(self) -> bool:
        return self.places_left == 0

    @property
    def quiet(self) -> bool:
        return self.session.kind.quiet


@dataclass(frozen=True)
class Slot:
    """The sessions that start at one time."""

    starts_at: datetime
    entries: list[TimetableEntry]

    @cached_property
    def common_end(self) -> datetime | None:
        """The end its sessions share, if they all end together."""
        ends = {e.session.ends_at for e in self.entries}
        return next(iter(ends)) if len(ends) == 1 else None

    @property
    def quiet(self) -> bool:
        return all(e.quiet for e in self.entries)


@dataclass(frozen=True)
class Day:
    """One day of the timetable in the event's zone; `opens_at`/`closes_at` are its local
    midnights (UTC), so a browser can tell which day is today wherever it is."""

    date: date
    opens_at: datetime
    closes_at: datetime
    slots: list[Slot]

    @property
    def anchor(self) -> str:
        return f"day-{self.date.isoformat()}"


@dataclass(frozen=True)
class Timetable:
    timezone: str
    # The rooms given a column each on a desktop, in the order they first appear.
    columns: tuple[str, ...] = ()
    days: list[Day] = field(default_factory=list)

    @property
    def entries(self) -> list[TimetableEntry]:
        return [entry for day in self.days for slot in day.slots for entry in slot.entries]

    @property
    def zone_words(self) -> str:
        """The zone its times are in, named: 'Asia/Singapore (UTC+08:00)', or with the
        abbreviation where the zone has a real one: 'Europe/London (BST, UTC+01:00)'."""
        name = self.timezone.replace("_", " ")
        if not self.days:
            return name
        local = self.days[0].slots[0].starts_at.astimezone(zone(self.timezone))
        offset = local.strftime("%z")
        utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
        abbrev = local.strftime("%Z")
        named = abbrev and not abbrev.startswith(("+", "-")) and abbrev != "UTC"
        return f"{name} ({abbrev}, {utc})" if named else f"{name} ({utc})"

    def __bool__(self) -> bool:
        return bool(self.days)


def _speakers_by_session(session: Session, event_id: int) -> dict[int, tuple[SpeakerRef, ...]]:
    rows = session.execute(
        select(SessionSpeaker.session_id, Speaker.key, Speaker.name, Speaker.affiliation)
        .join(Speaker, Speaker.id == SessionSpeaker.speaker_id)
        .join(EventSession, EventSession.id == SessionSpeaker.session_id)
        .where(EventSession.event_id == event_id)
        .order_by(SessionSpeaker.session_id, SessionSpeaker.position)
    )
    found: dict[int, list[SpeakerRef]] = {}
    for session_id, key, name, affiliation in rows:
        found.setdefault(session_id, []).append(SpeakerRef(key, name, affiliation or ""))
    return {session_id: tuple(refs) for session_id, refs in found.items()}


def _columns(sessions: Iterable[EventSession]) -> tuple[str, ...]:
    rooms: dict[str, None] = {}
    for s in sessions:
        if s.room and not s.kind.quiet:
            rooms.setdefault(s.room, None)
    # One room is one column: nothing stands side by side.
    return tuple(rooms) if 1 < len(rooms) <= MAX_COLUMNS else ()


def _alone(sessions: list[EventSession]) -> set[int]:
    """The ids of sessions (in time order) that overlap no other: one pass, as each overlaps
    an earlier one exactly when some earlier end is after its start, and a later one exactly
    when the next start is before its end."""
    alone = set()
    latest_end: datetime | None = None
    for i, s in enumerate(sessions):
        following = sessions[i + 1] if i + 1 < len(sessions) else None
        before = latest_end is not None and latest_end > s.starts_at
        after = following is not None and following.starts_at < s.ends_at
        if not before and not after:
            alone.add(s.id)
        latest_end = s.ends_at if latest_end is None else max(latest_end, s.ends_at)
    return alone


def _local_midnight(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone(tz_name)).astimezone(UTC)


def build_timetable(
    sessions: list[EventSession], tz_name: str, speakers: dict[int, tuple[SpeakerRef, ...]], taken: dict[int, int]
) -> Timetable:
    """The timetable of sessions (in time order) grouped by day in the zone `tz_name`, then by
    starting time, each with its speakers and places taken."""
    if not sessions:
        return Timetable(tz_name)
    tz = zone(tz_name)
    columns = _columns(sessions)
    column_of = {room: n for n, room in enumerate(columns, start=1)}
    alone = _alone(sessions)
    by_day: dict[date, dict[datetime, list[TimetableEntry]]] = {}
    for s in sessions:
        entry = TimetableEntry(
            session=s,
            speakers=speakers.get(s.id, ()),
            taken=taken.get(s.id, 0) if s.places is not None else None,
            column=None if s.kind.quiet else column_of.get(s.room),
            spans=s.kind.quiet or s.id in alone,
            hours=f"{s.starts_at.astimezone(tz):%H:%M}–{s.ends_at.astimezone(tz):%H:%M}",
        )
        by_day.setdefault(s.starts_at.astimezone(tz).date(), {}).setdefault(s.starts_at, []).append(entry)
    days = [
        Day(
            date=day,
            opens_at=_local_midnight(day, tz_name),
            closes_at=_local_midnight(day + timedelta(days=1), tz_name),
            slots=[Slot(starts_at, entries) for starts_at, entries in slots.items()],
        )
        for day, slots in by_day.items()
    ]
    return Timetable(tz_name, columns, days)


def _in_order(session: Session, event_id: int) -> list[EventSession]:
    return list(session.scalars(
        select(EventSession).where(EventSession.event_id == event_id).order_by(EventSession.starts_at, EventSession.id)
    ))


def load_timetable(session: Session, event: Event) -> Timetable:
    """The event's sessions (scheduled and cancelled) by day in its zone, with their speakers
    in order and the places taken of those that have places: three queries at most."""
    sessions = _in_order(session, event.id)
    if not sessions:
        return Timetable(event.timezone)
    taken = session_places_taken(session, event.id) if any(s.places is not None for s in sessions) else {}
    return build_timetable(sessions, event.timezone, _speakers_by_session(session, event.id), taken)


# --- one session ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeakerLine:
    """A speaker as a session's page introduces them."""

    key: str
    name: str
    title: str
    affiliation: str


@dataclass(frozen=True)
class SessionPage:
    event: Event
    programme: Programme | None
    entry: TimetableEntry
    speakers: list[SpeakerLine]

    @property
    def session(self) -> EventSession:
        return self.entry.session


def get_session_page(session: Session, slug: str, key: str) -> SessionPage:
    """One session of a public event, with its speakers in order and its places; NotFound for
    an unknown key or an event the public does not see."""
    event, programme = find_event(session, slug, statuses=PUBLIC_STATUSES)
    found = session.scalar(select(EventSession).where(EventSession.event_id == event.id, EventSession.key == key))
    if found is None:
        raise NotFound(f"{event.title} has no session at this address.")
    people = [
        SpeakerLine(*row) for row in session.execute(
            select(Speaker.key, Speaker.name, Speaker.title, Speaker.affiliation)
            .join(SessionSpeaker, SessionSpeaker.speaker_id == Speaker.id)
            .where(SessionSpeaker.session_id == found.id).order_by(SessionSpeaker.position)
        )
    ]
    taken = session_places_taken(session, event.id, only=[found.id]).get(found.id, 0) if found.places is not None else None
    refs = tuple(SpeakerRef(p.key, p.name, p.affiliation) for p in people)
    return SessionPage(event, programme, TimetableEntry(found, refs, taken), people)


# --- one speaker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeakerSession:
    session: EventSession
    event: Event


@dataclass(frozen=True)
class SpeakerPage:
    speaker: Speaker
    upcoming: list[SpeakerSession]
    past: list[SpeakerSession]


def _public_speaker(session: Session, key: str) -> Speaker:
    """The speaker at `key` if they speak at a public event: a speaker known only to a draft
    has no public page yet (their name would announce it)."""
    speaker = session.scalar(select(Speaker).where(Speaker.key == key))
    if speaker is not None:
        public = session.scalar(
            select(SessionSpeaker.session_id)
            .join(EventSession, EventSession.id == SessionSpeaker.session_id)
            .join(Event, Event.id == EventSession.event_id)
            .where(SessionSpeaker.speaker_id == speaker.id, Event.status.in_(PUBLIC_STATUSES))
            .limit(1)
        )
        if public is not None:
            return speaker
    raise NotFound(f"There is no speaker at /speakers/{key}.")


def get_speaker_page(session: Session, key: str, *, now: datetime | None = None) -> SpeakerPage:
    """A speaker and their sessions at public events: those not yet over (soonest first) and
    those over (latest first)."""
    now = now or utcnow()
    speaker = _public_speaker(session, key)
    rows = session.execute(
        select(EventSession, Event)
        .join(SessionSpeaker, SessionSpeaker.session_id == EventSession.id)
        .join(Event, Event.id == EventSession.event_id)
        .where(SessionSpeaker.speaker_id == speaker.id, Event.status.in_(PUBLIC_STATUSES))
        .order_by(EventSession.starts_at, EventSession.id)
    ).all()
    talks = [SpeakerSession(s, e) for s, e in rows]
    upcoming = [t for t in talks if t.session.ends_at >= now]
    past = [t for t in reversed(talks) if t.session.ends_at < now]
    return SpeakerPage(speaker, upcoming, past)


def speaker_photo(session: Session, key: str) -> str:
    """The file name of a public speaker's photo (under the upload directory's speakers/), or
    NotFound when they have none."""
    speaker = _public_speaker(session, key)
    if not speaker.photo:
        raise NotFound(f"{speaker.name} has no photo.")
    return speaker.photo

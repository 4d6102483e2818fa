"""Speakers in the back office: a searchable list, one speaker with the sessions they speak in,
adding and editing one, and their photo (photos.py makes and keeps the file; this records its
name). Keys are the import's and the public page's (/speakers/{key}), so they never change.
Every change is in the audit log (speaker.create, speaker.update)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.audit import Actor, diff, record
from portal.db import utcnow
from portal.errors import AlreadyExists, InvalidInput, NotFound
from portal.models import Event, EventSession, SessionSpeaker, Speaker
from portal.paging import Paged, clamp_page, offset
from portal.text import SLUG, like_pattern

# The add page's address: no speaker may have it as a key.
RESERVED_KEYS = frozenset({"new"})
_FIELDS = ("name", "affiliation", "title", "bio")


@dataclass(frozen=True)
class SpeakerRow:
    speaker: Speaker
    sessions: int


@dataclass(frozen=True)
class SpeakersPage(Paged):
    rows: list[SpeakerRow]
    q: str | None
    page: int
    per_page: int
    total: int


def _matching(session: Session, q: str) -> Any:
    pattern = like_pattern(q)
    if session.get_bind().dialect.name == "postgresql":
        return or_(Speaker.name.ilike(pattern, escape="\\"), Speaker.key.ilike(pattern, escape="\\"))
    return or_(Speaker.name.like(pattern, escape="\\"), Speaker.key.like(pattern, escape="\\"))


def list_speakers(session: Session, *, q: str | None = None, page: int = 1, per_page: int = 50) -> SpeakersPage:
    """Speakers by name, those whose name or key contains `q` if given, with how many
    sessions each speaks in."""
    conditions = [_matching(session, q)] if q else []
    total = session.scalar(select(func.count()).select_from(Speaker).where(*conditions)) or 0
    page = clamp_page(page, total, per_page)
    speakers = list(session.scalars(
        select(Speaker).where(*conditions).order_by(Speaker.name, Speaker.id).offset(offset(page, per_page)).limit(per_page)
    ))
    counts: dict[int, int] = {}
    if speakers:
        counts = dict(session.execute(
            select(SessionSpeaker.speaker_id, func.count()).where(SessionSpeaker.speaker_id.in_([s.id for s in speakers]))
            .group_by(SessionSpeaker.speaker_id)
        ).all())
    return SpeakersPage([SpeakerRow(s, counts.get(s.id, 0)) for s in speakers], q, page, per_page, total)


@dataclass(frozen=True)
class SpokenAt:
    """A session a speaker speaks in, with its event."""

    event_slug: str
    event_title: str
    timezone: str
    session: EventSession


@dataclass(frozen=True)
class SpeakerDetail:
    speaker: Speaker
    sessions: list[SpokenAt]


def find_speaker(session: Session, key: str) -> Speaker:
    found = session.scalar(select(Speaker).where(Speaker.key == key))
    if found is None:
        raise NotFound(f"There is no speaker with the key “{key}”.")
    return found


def speaker_detail(session: Session, key: str) -> SpeakerDetail:
    """A speaker and the sessions they speak in, at every event, in time order."""
    speaker = find_speaker(session, key)
    rows = session.execute(
        select(Event.slug, Event.title, Event.timezone, EventSession)
        .join(EventSession, EventSession.event_id == Event.id)
        .join(SessionSpeaker, SessionSpeaker.session_id == EventSession.id)
        .where(SessionSpeaker.speaker_id == speaker.id).order_by(EventSession.starts_at, EventSession.id)
    )
    return SpeakerDetail(speaker, [SpokenAt(slug, title, tz, s) for slug, title, tz, s in rows])


def create_speaker(session: Session, actor: Actor, values: dict[str, Any], *, photo: str | None = None, now: datetime | None = None) -> Speaker:
    """Add a speaker; `photo` is a stored photo's name (photos.store)."""
    now = now or utcnow()
    key = values["key"]
    if not SLUG.match(key) or len(key) > 120:
        raise InvalidInput("The key must be lowercase letters, digits and single hyphens, e.g. tan-ah-kow.")
    if key in RESERVED_KEYS:
        raise AlreadyExists(f"“{key}” is kept for the page that adds a speaker; choose another key.")
    if session.scalar(select(Speaker.id).where(Speaker.key == key)) is not None:
        raise AlreadyExists(f"A speaker with the key “{key}” exists already; choose another, or edit theirs.")
    speaker = Speaker(**{k: values[k] for k in ("key", *_FIELDS)}, photo=photo, created_at=now, updated_at=now)
    session.add(speaker)
    session.flush()
    record(session, actor, "speaker.create", after={"speaker": key, "name": speaker.name, "photo": "yes" if photo else "none"}, now=now)
    return speaker


@dataclass(frozen=True)
class SpeakerSaved:
    speaker: Speaker
    changed: list[str]
    # The photo file this change let go (replaced or removed): the caller deletes it once
    # the change is committed.
    old_photo: str | None


def update_speaker(
    session: Session, actor: Actor, key: str, values: dict[str, Any], *,
    photo: str | None = None, remove_photo: bool = False, now: datetime | None = None,
) -> SpeakerSaved:
    """Edit a speaker; a new `photo` (a stored name) replaces theirs, `remove_photo` drops it."""
    now = now or utcnow()
    speaker = find_speaker(session, key)
    before = {k: getattr(speaker, k) for k in _FIELDS}
    for k in _FIELDS:
        setattr(speaker, k, values[k])
    old, new = diff(before, {k: getattr(speaker, k) for k in _FIELDS})
    old_photo = None
    if photo is not None or (remove_photo and speaker.photo):
        old_photo = speaker.photo
        old["photo"] = "yes" if speaker.photo else "none"
        new["photo"] = "replaced" if photo and speaker.photo else "added" if photo else "removed"
        speaker.photo = photo
    if not new:
        return SpeakerSaved(speaker, [], None)
    speaker.updated_at = now
    record(session, actor, "speaker.update", before={"speaker": key, **old}, after={"speaker": key, **new}, now=now)
    session.flush()
    return SpeakerSaved(speaker, list(new), old_photo)

"""What each feed holds: the public iCalendar feeds (site, programme, category, one event),
a participant's personal feed, and the Atom feed of newly announced events.

Each feed is read with one query for its events and their programmes (plus at most one to
find the programme or the private token), never one per event. A conference's sessions, where
a feed holds them, are read with two more (catalogue/sessionrows.py).

An event's own feed holds the event alone unless asked for its sessions too
(`/events/{slug}/calendar.ics?sessions=all`): whoever subscribed to an event for years keeps
one entry, not a hundred. Breaks and meals are never in a feed. A participant's personal
feed holds, besides their events, each session they chose and hold a place in (a choice on
a session's waiting list is not in it).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal.calendars.ical import (
    ORGANISATION,
    block_key,
    category_label,
    event_calendar,
    event_uid,
    location,
    personal_block,
    published_block,
    published_calendar,
    summary,
    vevent_blocks,
)
from portal.calendars.plaintext import clean_line, plain_text, shorten
from portal.calendars.sessions import personal_session_block, session_block
from portal.catalogue import sessionrows
from portal.models import (
    ACTIVE_STATUSES,
    PUBLIC_STATUSES,
    Event,
    Programme,
    Registration,
    SessionChoice,
    find_event,
    programme_by_code,
)
from portal.registrations.participants import find_by_token
from portal.site import Site
from portal.templating import date_range

CALENDAR_TYPE = "text/calendar; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
SITE_NAME = "RSIS Events"
# Public feeds keep a year of past events: long enough that nothing vanishes from a
# subscriber's calendar soon after it happened, short enough that a feed stops growing.
HISTORY = timedelta(days=365)
ATOM_ENTRIES = 50
ATOM_NS = "http://www.w3.org/2005/Atom"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Row = tuple[Event, Programme | None]


@dataclass(frozen=True)
class Feed:
    """A feed ready to send: its bytes, media type and when its content last changed."""

    body: bytes
    media_type: str
    last_modified: datetime | None


def history_start(day: date) -> datetime:
    """The earliest end time a public feed shows on `day` (whole days, so that a feed is the
    same all day long and can be cached by date)."""
    return datetime.combine(day - HISTORY, time(0), timezone.utc)


def _events_with_programmes() -> Select[tuple[Event, Programme | None]]:
    return select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id)


def _newest(times: Iterable[datetime | None]) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


def _calendar_feed(rows: Sequence[Any], site: Site, name: str, tz: str | None, source: str) -> Feed:
    """Drafts are read as well and left out here: their updated_at still counts for
    Last-Modified, so unpublishing an event moves it forward."""
    items: list[Row] = [(event, programme) for event, programme in rows if event.status in PUBLIC_STATUSES]
    changed = _newest(
        [event.updated_at for event, _ in rows] + [programme.updated_at for _, programme in rows if programme]
    )
    body = event_calendar(items, site=site, name=name, timezone_name=tz, source_url=site.absolute(source))
    return Feed(body, CALENDAR_TYPE, changed)


def site_feed(
    session: Session,
    site: Site,
    *,
    since: datetime,
    programme: str | None = None,
    category: str | None = None,
    source: str = "/calendar.ics",
) -> Feed:
    """Every public event ending after `since`, optionally of one programme and/or category."""
    query = _events_with_programmes().where(Event.ends_at >= since).order_by(Event.starts_at, Event.id)
    name = SITE_NAME
    if programme is not None:
        found = programme_by_code(session, programme)
        query = query.where(Event.programme_id == found.id)
        name = f"{SITE_NAME}: {found.name}"
    if category is not None:
        query = query.where(Event.category == category)
        name = f"{name} ({category_label(category)})"
    return _assembled_feed(session, query, site, name, source)


# Enough ids for one IN (...) that every engine takes.
_LOAD_CHUNK = 500


def _assembled_feed(session: Session, query: Select[Any], site: Site, name: str, source: str) -> Feed:
    """A feed of many events from the cached VEVENT blocks (services/calendars.py).

    A narrow first query reads only what a block's cache key is made of; whole events are
    loaded only for blocks not in the cache. After an edit to one of 2,000 events, one event
    is loaded and one block made, instead of 2,000 events read into objects.
    """
    narrow = query.with_only_columns(
        Event.id, Event.uid, Event.updated_at, Event.sequence, Event.status,
        Programme.name, Programme.updated_at,
    )
    rows = session.execute(narrow).all()
    # Drafts are read as well and left out here: their updated_at still counts for
    # Last-Modified, so unpublishing an event moves it forward.
    changed = _newest([row[2] for row in rows] + [row[6] for row in rows])
    shown = [row for row in rows if row[4] in PUBLIC_STATUSES]
    keys = {row[0]: block_key(row[1], row[2], row[3], row[4], row[5], row[6], site) for row in shown}
    blocks = {event_id: vevent_blocks.get(key) for event_id, key in keys.items()}
    missing = [event_id for event_id, block in blocks.items() if block is None]
    for start in range(0, len(missing), _LOAD_CHUNK):
        chunk = missing[start : start + _LOAD_CHUNK]
        for event, programme in session.execute(_events_with_programmes().where(Event.id.in_(chunk))):
            blocks[event.id] = published_block(event, programme, site)
    body = published_calendar(
        (blocks[row[0]] for row in shown), site=site, name=name, source_url=site.absolute(source)
    )
    return Feed(body, CALENDAR_TYPE, changed)


def event_feed(session: Session, site: Site, slug: str, *, source: str, with_sessions: bool = False) -> Feed:
    """One public event, and with `with_sessions` each of its sessions but breaks and meals;
    drafts are not found."""
    event, programme = find_event(session, slug, statuses=PUBLIC_STATUSES)
    if not with_sessions:
        return _calendar_feed([(event, programme)], site, f"{SITE_NAME}: {event.title}", event.timezone, source)
    rows = [row for row in sessionrows.of_event(session, event) if not row.item.kind.quiet]
    blocks = [published_block(event, programme, site)]
    blocks += [session_block(row.item, event, row.speakers, site) for row in rows]
    changed = _newest([event.updated_at, programme.updated_at if programme else None, *(row.changed for row in rows)])
    body = published_calendar(
        blocks, site=site, name=f"{SITE_NAME}: {event.title} (timetable)", timezone_name=event.timezone,
        source_url=site.absolute(source),
    )
    return Feed(body, CALENDAR_TYPE, changed)


def session_feed(session: Session, site: Site, slug: str, key: str, *, source: str) -> Feed:
    """One session of a public event; NotFound for an unknown key or a draft event."""
    event, _ = find_event(session, slug, statuses=PUBLIC_STATUSES)
    row = sessionrows.one(session, event, key)
    body = published_calendar(
        [session_block(row.item, event, row.speakers, site)], site=site, name=f"{SITE_NAME}: {row.item.title}",
        timezone_name=event.timezone, source_url=site.absolute(source),
    )
    return Feed(body, CALENDAR_TYPE, max(row.changed, event.updated_at))


def personal_feed(session: Session, site: Site, token: str, *, source: str) -> Feed:
    """The events of every active registration made with the token's email address, and the
    sessions those registrations chose and hold a place in."""
    owner = find_by_token(session, token)
    rows = session.execute(
        select(Registration.status, Registration.updated_at, Event, Programme)
        .join(Event, Registration.event_id == Event.id)
        .outerjoin(Programme, Event.programme_id == Programme.id)
        .where(Registration.email == owner.email)
        .order_by(Event.starts_at, Event.id)
    ).all()
    chosen = _chosen_sessions(session, owner.email)
    blocks: list[bytes] = []
    seen: set[int] = set()
    for status, _, event, programme in rows:
        if status in ACTIVE_STATUSES and event.status in PUBLIC_STATUSES and event.id not in seen:
            seen.add(event.id)
            blocks.append(personal_block(event, programme, site, status))
            for row, standing, _ in chosen.get(event.id, []):
                blocks.append(personal_session_block(row.item, event, row.speakers, site, standing))
    # A registration cancelled or an event unpublished takes an event out of this feed.
    changed = _newest(
        [updated for _, updated, _, _ in rows]
        + [event.updated_at for _, _, event, _ in rows]
        + [programme.updated_at for *_, programme in rows if programme]
        + [max(row.changed, chosen_at) for picks in chosen.values() for row, _, chosen_at in picks]
    )
    body = published_calendar(blocks, site=site, name=f"{SITE_NAME}: my registrations", source_url=site.absolute(source))
    return Feed(body, CALENDAR_TYPE, changed)


# A chosen session in a personal feed: the session, its registration's status, when chosen.
Chosen = tuple[sessionrows.SessionRow, str, datetime]


def _chosen_sessions(session: Session, email: str) -> dict[int, list[Chosen]]:
    """The sessions chosen, with a place held (not waiting), by the active registrations of
    this email address: by event id, in time order."""
    picks = session.execute(
        select(SessionChoice.session_id, Registration.status, SessionChoice.created_at)
        .join(Registration, Registration.id == SessionChoice.registration_id)
        .where(
            Registration.email == email,
            Registration.status.in_(list(ACTIVE_STATUSES)),
            SessionChoice.waiting.is_(False),
        )
    ).all()
    if not picks:
        return {}
    found = sessionrows.by_ids(session, [session_id for session_id, _, _ in picks])
    by_event: dict[int, list[Chosen]] = {}
    seen: set[int] = set()
    for session_id, status, chosen_at in sorted(picks, key=lambda p: (found[p[0]].item.starts_at, p[0])):
        if session_id not in seen:
            seen.add(session_id)
            by_event.setdefault(found[session_id].item.event_id, []).append((found[session_id], str(status), chosen_at))
    return by_event


# --- Atom -------------------------------------------------------------------------------


def _atom_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _urn(name: str) -> str:
    """A permanent Atom id: a name-based UUID, so it never changes while `name` does not."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _entry_summary(event: Event, programme: Programme | None) -> str:
    lines = [f"When: {date_range(event.starts_at, event.ends_at, event.timezone, event.all_day)}"]
    place = location(event)
    if place:
        lines.append(f"Where: {place}")
    if programme is not None:
        lines.append(f"Programme: {clean_line(programme.name)}")
    about = shorten(plain_text(event.description), 1000)
    return "\n".join(lines) + (f"\n\n{about}" if about else "")


def announcements(session: Session, site: Site, *, limit: int = ATOM_ENTRIES) -> Feed:
    """The newest announced events as an Atom feed, newest announcement first."""
    rows = session.execute(
        _events_with_programmes()
        .where(Event.status.in_(PUBLIC_STATUSES), Event.published_at.is_not(None))
        .order_by(Event.published_at.desc(), Event.id.desc())
        .limit(limit)
    ).all()
    updated = _newest([event.updated_at for event, _ in rows]) or _EPOCH

    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "en"})
    _sub(feed, "id", _urn(site.url("show_announcements")))
    _sub(feed, "title", f"{SITE_NAME}: newly announced")
    _sub(feed, "subtitle", "Seminars, conferences and executive programmes, as they are announced.")
    _sub(feed, "link", rel="self", type="application/atom+xml", href=site.url("show_announcements"))
    _sub(feed, "link", rel="alternate", type="text/html", href=site.url("list_events"))
    _sub(feed, "updated", _atom_time(updated))
    author = _sub(feed, "author")
    _sub(author, "name", ORGANISATION)
    _sub(author, "uri", site.url("home"))
    _sub(feed, "generator", "RSIS Events portal")
    for event, programme in rows:
        assert event.published_at is not None
        entry = _sub(feed, "entry")
        _sub(entry, "id", _urn(f"portal-event:{event_uid(event)}"))
        _sub(entry, "title", summary(event), type="text")
        _sub(entry, "link", rel="alternate", type="text/html", href=site.event_url(event.slug))
        _sub(entry, "published", _atom_time(event.published_at))
        _sub(entry, "updated", _atom_time(max(event.updated_at, event.published_at)))
        _sub(entry, "category", term=event.category, label=category_label(event.category))
        _sub(entry, "summary", _entry_summary(event, programme), type="text")
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Feed(body, ATOM_TYPE, updated)

"""A conference's schedule in the frab/pentabarf exchange format that companion apps read
(Giggity, EventFahrplan, ConfClerk, info-beamer screens, pretalx's importers): XML after the
voc/schedule XSD and JSON after its JSON schema (both vendored, with their licence, under
tests/schemas/voc-schedule/, where the tests validate every export against them).

Both are built from one reading of the timetable (`read_schedule`):
- days: every date the event covers in its own zone (registrations.checkins.event_days, plus
  any a session starts on), each from its first session's start to its last session's end
  (the event's own hours on a day without sessions), written with the zone's offset;
- rooms: in the order they are first used; a session without a room is in the event's venue
  (or "Main room"), since the format puts every session in a room;
- sessions: `guid` is EventSession.guid and `id` EventSession.id (both made once, never
  reused), `slug` is "{acronym}-{id, four digits or more}-{key}", `type` its kind, times
  in the event's zone;
  persons are its speakers (Speaker.guid, name, biography, page);
- the conference's acronym is the event's slug with "_" for "-" ("iccs_2027"), the pattern
  both schemas ask for; `version` is the time of the newest change to anything exported.

Left out: breaks and meals (a companion app has no quiet row: a coffee break would be a
"talk" to star in a room called Foyer), and cancelled sessions (all of them when the event is
cancelled). The format has no status; its producers (pretalx, frab) drop a cancelled talk
from the schedule, and the apps that watch for changes (EventFahrplan, Giggity) report a
starred talk that vanished as cancelled.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from math import gcd
from typing import Any

from sqlalchemy.orm import Session

from portal.calendars.ical import zone
from portal.calendars.plaintext import clean_line, plain_text
from portal.calendars.sessions import session_cancelled
from portal.catalogue import sessionrows
from portal.catalogue.feeds import Feed
from portal.models import PUBLIC_STATUSES, Event, find_event
from portal.registrations.checkins import event_days
from portal.site import Site

XML_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
SCHEMA_URL = "https://c3voc.de/schedule/schema.json"
GENERATOR = "RSIS Events portal"
NO_ROOM = "Main room"
_TRACK_SLUG = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]")


@dataclass(frozen=True)
class Person:
    guid: str
    id: int
    name: str
    biography: str
    url: str


@dataclass(frozen=True)
class Talk:
    """One session as the format has it (the format calls it an event)."""

    id: int
    guid: str
    slug: str
    title: str
    type: str
    room: str
    track: str | None
    starts: datetime  # in the event's zone
    ends: datetime
    abstract: str
    url: str
    persons: tuple[Person, ...]

    @property
    def duration(self) -> str:
        minutes = int((self.ends - self.starts).total_seconds() // 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Day:
    index: int
    date: date
    start: datetime
    end: datetime
    rooms: dict[str, list[Talk]]  # every room of the conference, in order, each maybe empty


@dataclass(frozen=True)
class Track:
    name: str
    slug: str | None


@dataclass(frozen=True)
class Schedule:
    title: str
    acronym: str
    url: str  # the event's page
    base_url: str
    time_zone: str
    version: str
    timeslot: str
    rooms: dict[str, str]  # name -> guid, in order
    tracks: tuple[Track, ...]
    days: tuple[Day, ...]
    changed: datetime


def acronym(slug: str) -> str:
    """The conference's acronym from the event's slug: lowercase letters, digits and "_",
    at least four characters (both schemas' pattern)."""
    made = re.sub(r"[^a-z0-9_]", "_", slug.lower())
    return made.ljust(4, "_")


def track_slug(name: str) -> str | None:
    """A track's slug (lowercase ASCII words joined by hyphens, starting with a letter), or
    None when its name has too few Latin letters to make one."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    made = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")
    return made if _TRACK_SLUG.fullmatch(made) else None


def room_guid(event: Event, room: str) -> str:
    """A room's GUID: the same for the same room of the same event, in every export."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:portal:{event.uid}:room:{room}"))


def _timeslot(talks: list[Talk]) -> str:
    """The largest step (at most an hour) that every start and duration is a multiple of."""
    step = 0
    for talk in talks:
        step = gcd(step, talk.starts.hour * 60 + talk.starts.minute, int((talk.ends - talk.starts).total_seconds() // 60))
    step = min(step or 15, 60)
    return f"{step // 60:02d}:{step % 60:02d}"


def _local_midnight(day: date, tz_name: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone(tz_name))


def read_schedule(session: Session, site: Site, slug: str) -> Schedule:
    """The schedule of a public event (drafts are not found): three queries."""
    event, _ = find_event(session, slug, statuses=PUBLIC_STATUSES)
    rows = sessionrows.of_event(session, event)
    tz = zone(event.timezone)
    short = acronym(event.slug)
    talks: list[Talk] = []
    for row in rows:
        item = row.item
        if item.kind.quiet or session_cancelled(item, event):
            continue
        talks.append(Talk(
            id=item.id,
            guid=item.guid,
            # At least four digits: the XSD wants four characters or more after the acronym.
            slug=f"{short}-{item.id:04d}-{item.key}",
            title=clean_line(item.title),
            type=str(item.kind),
            room=clean_line(item.room) or clean_line(event.venue) or NO_ROOM,
            track=clean_line(item.track or "") or None,
            starts=item.starts_at.astimezone(tz),
            ends=item.ends_at.astimezone(tz),
            abstract=plain_text(item.description),
            url=site.url("show_session", slug=event.slug, key=item.key),
            persons=tuple(
                Person(s.guid, s.id, clean_line(s.name), plain_text(s.bio), site.url("show_speaker", key=s.key))
                for s in row.speakers
            ),
        ))
    rooms = {name: room_guid(event, name) for name in dict.fromkeys(t.room for t in talks)}
    tracks = tuple(Track(name, track_slug(name)) for name in dict.fromkeys(t.track for t in talks if t.track))
    dates = sorted(set(event_days(event)) | {t.starts.date() for t in talks})
    days = []
    for index, day in enumerate(dates, start=1):
        todays = [t for t in talks if t.starts.date() == day]
        if todays:
            start, end = min(t.starts for t in todays), max(t.ends for t in todays)
        else:
            start = max(event.starts_at.astimezone(tz), _local_midnight(day, event.timezone))
            end = min(event.ends_at.astimezone(tz), _local_midnight(day + timedelta(days=1), event.timezone))
        by_room: dict[str, list[Talk]] = {name: [] for name in rooms}
        for talk in todays:
            by_room[talk.room].append(talk)
        days.append(Day(index, day, start, end, by_room))
    changed = max([event.updated_at, *(row.changed for row in rows)])
    return Schedule(
        title=clean_line(event.title),
        acronym=short,
        url=site.event_url(event.slug),
        base_url=site.base_url + "/",
        time_zone=event.timezone,
        # To the microsecond, so two edits within a second are two versions.
        version=changed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        timeslot=_timeslot(talks),
        rooms=rooms,
        tracks=tracks,
        days=tuple(days),
        changed=changed,
    )


# --- XML ------------------------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _talk_xml(parent: ET.Element, talk: Talk) -> None:
    element = _sub(parent, "event", guid=talk.guid, id=str(talk.id))
    _sub(element, "room", talk.room)
    _sub(element, "title", talk.title)
    _sub(element, "subtitle", "")
    _sub(element, "type", talk.type)
    _sub(element, "date", talk.starts.isoformat())
    _sub(element, "start", talk.starts.strftime("%H:%M"))
    _sub(element, "duration", talk.duration)
    _sub(element, "abstract", talk.abstract)
    _sub(element, "slug", talk.slug)
    _sub(element, "track", talk.track or "")
    persons = _sub(element, "persons")
    for person in talk.persons:
        _sub(persons, "person", person.name, id=str(person.id), guid=person.guid)
    _sub(element, "url", talk.url)


def to_xml(schedule: Schedule, source: str) -> bytes:
    """The schedule as frab's XML (`source`: the address it is served at)."""
    root = ET.Element("schedule")
    _sub(root, "generator", name=GENERATOR)
    _sub(root, "url", source)
    _sub(root, "version", schedule.version)
    conference = _sub(root, "conference")
    _sub(conference, "acronym", schedule.acronym)
    _sub(conference, "title", schedule.title)
    _sub(conference, "start", schedule.days[0].date.isoformat())
    _sub(conference, "end", schedule.days[-1].date.isoformat())
    _sub(conference, "days", str(len(schedule.days)))
    _sub(conference, "timeslot_duration", schedule.timeslot)
    _sub(conference, "base_url", schedule.base_url)
    _sub(conference, "url", schedule.url)
    _sub(conference, "time_zone_name", schedule.time_zone)
    for track in schedule.tracks:
        _sub(conference, "track", **({"name": track.name, "slug": track.slug} if track.slug else {"name": track.name}))
    for day in schedule.days:
        element = _sub(root, "day", index=str(day.index), date=day.date.isoformat(), start=day.start.isoformat(), end=day.end.isoformat())
        for name, talks in day.rooms.items():
            room = _sub(element, "room", name=name, guid=schedule.rooms[name])
            for talk in talks:
                _talk_xml(room, talk)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# --- JSON -----------------------------------------------------------------------------------


def _talk_json(talk: Talk) -> dict[str, Any]:
    return {
        "guid": talk.guid,
        "id": talk.id,
        "date": talk.starts.isoformat(),
        "start": talk.starts.strftime("%H:%M"),
        "end": talk.ends.isoformat(),
        "duration": talk.duration,
        "room": talk.room,
        "slug": talk.slug,
        "url": talk.url,
        "title": talk.title,
        "subtitle": "",
        "track": talk.track,
        "type": talk.type,
        "language": None,
        "abstract": talk.abstract,
        # name (the schema's) and public_name (what older readers look for); no numeric id
        # beside public_name, which would make a person match both of the schema's kinds.
        "persons": [
            {"guid": p.guid, "name": p.name, "public_name": p.name, "biography": p.biography, "url": p.url}
            for p in talk.persons
        ],
        "links": [],
        "attachments": [],
    }


def to_json(schedule: Schedule, site: Site) -> bytes:
    """The schedule as the format's JSON."""
    document = {
        "$schema": SCHEMA_URL,
        "generator": {"name": GENERATOR, "url": site.base_url + "/"},
        "schedule": {
            "version": schedule.version,
            "base_url": schedule.base_url,
            "conference": {
                "acronym": schedule.acronym,
                "title": schedule.title,
                "start": schedule.days[0].date.isoformat(),
                "end": schedule.days[-1].date.isoformat(),
                "daysCount": len(schedule.days),
                "timeslot_duration": schedule.timeslot,
                "time_zone_name": schedule.time_zone,
                "url": schedule.url,
                "tracks": [{"name": t.name, **({"slug": t.slug} if t.slug else {})} for t in schedule.tracks],
                "rooms": [{"name": name, "guid": guid} for name, guid in schedule.rooms.items()],
                "days": [
                    {
                        "index": day.index,
                        "date": day.date.isoformat(),
                        "day_start": day.start.isoformat(),
                        "day_end": day.end.isoformat(),
                        "rooms": {name: [_talk_json(t) for t in talks] for name, talks in day.rooms.items()},
                    }
                    for day in schedule.days
                ],
            },
        },
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def schedule_xml(session: Session, site: Site, slug: str) -> Feed:
    """`/events/{slug}/schedule.xml`."""
    schedule = read_schedule(session, site, slug)
    return Feed(to_xml(schedule, site.url("show_schedule_xml", slug=slug)), XML_TYPE, schedule.changed)


def schedule_json(session: Session, site: Site, slug: str) -> Feed:
    """`/events/{slug}/schedule.json`."""
    schedule = read_schedule(session, site, slug)
    return Feed(to_json(schedule, site), JSON_TYPE, schedule.changed)

"""Creating and updating programmes and events: the import file, the demo, and the rule that
changing an event's time, place or status raises its iCalendar SEQUENCE.

The file is one JSON object with "programmes" and/or "events", each a list of records:
- a programme: code, name, admission; optional summary, description, retention (how long
  registrations are kept after each run ends, an ISO 8601 period: "P24M"; null for the
  site's PORTAL_RETENTION; a programme that does not mention it keeps what it has);
- an event: slug, title, starts_at, ends_at; optional programme (a code), category,
  timezone, all_day, venue, address, online_url, capacity, waitlist, status,
  registration_opens, registration_closes, description, speakers, reminders (ISO 8601
  durations before the start: ["P2D", "PT2H"]; [] for none; null for the site's default),
  followup ({"after": "P1D", "subject": ..., "body": Markdown}, or null for none),
  certificate_rule ({"days": n} or {"share": 0.8} of the event's days, or null for every day);
  an event that does not mention reminders, followup or certificate_rule keeps what it has;
- either may hold its registration form: `form` (a list of questions in the shape
  portal.questions.schema reads) and `organisation_required` (true or false). Saved through
  portal.questions.store, so that answers keep their meaning (see catalogue.formfiles).
A key not listed here, at any level, is refused rather than ignored: a misspelt key would
otherwise lose its value without a word. Every complaint names the record and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.catalogue.formfiles import FormSpec, save_from_file
from portal.catalogue.records import CODE, SLUG, Record, did_you_mean, known_zone, no_repeats
from portal.catalogue.timetable import apply_sessions, apply_speakers, read_sessions, read_speakers
from portal.db import utcnow
from portal.errors import ImportProblem
from portal.mail.mailings import announce_event, followup_key
from portal.models import Admission, Event, EventStatus, Mailing, Programme, Speaker
from portal.questions.store import Owner, definition, definition_for_event, find_form
from portal.registrations.retention import checked_period

# Changing one of these moves the event in somebody's calendar: SEQUENCE must rise.
SCHEDULE_FIELDS = ("starts_at", "ends_at", "timezone", "all_day", "venue", "address", "online_url", "status")

FILE_KEYS = ("programmes", "events", "speakers")
FORM_KEYS = ("form", "organisation_required")
PROGRAMME_KEYS = ("code", "name", "admission", "summary", "description", "retention", *FORM_KEYS)
EVENT_KEYS = (
    "slug", "title", "programme", "category", "starts_at", "ends_at", "timezone", "all_day", "venue", "address",
    "online_url", "capacity", "waitlist", "status", "registration_opens", "registration_closes", "description",
    "speakers", "reminders", "followup", "certificate_rule", "sessions", *FORM_KEYS,
)


@dataclass(frozen=True)
class ImportReport:
    programmes_created: int = 0
    programmes_updated: int = 0
    events_created: int = 0
    events_updated: int = 0
    forms_saved: int = 0
    speakers_created: int = 0
    speakers_updated: int = 0
    sessions_saved: int = 0

    def __str__(self) -> str:
        forms = f"; forms: {self.forms_saved} saved" if self.forms_saved else ""
        speakers = f"; speakers: {self.speakers_created} created, {self.speakers_updated} updated" if self.speakers_created or self.speakers_updated else ""
        sessions = f"; sessions: {self.sessions_saved} saved" if self.sessions_saved else ""
        return (
            f"programmes: {self.programmes_created} created, {self.programmes_updated} updated; "
            f"events: {self.events_created} created, {self.events_updated} updated{forms}{speakers}{sessions}"
        )


def _read_programme(index: int, data: Any) -> dict[str, Any]:
    record = Record(f"programmes[{index}]", data)
    code = record.pattern("code", CODE, "must be lowercase letters, digits and hyphens", max_length=40)
    record.where = f"programmes[{index}] (code {code!r})"
    record.only(PROGRAMME_KEYS)
    return {
        "code": code,
        "name": record.text("name", required=True, max_length=200),
        "admission": record.choice("admission", Admission),
        "summary": record.text("summary", max_length=500),
        "description": record.text("description", max_length=20_000, multiline=True),
        **_retention(record),
        "form": record.form(),
    }


def _retention(record: Record) -> dict[str, str | None]:
    """A programme's `retention` (an ISO 8601 period, null for the site's PORTAL_RETENTION);
    a programme that does not mention it keeps what it has."""
    if "retention" not in record.data:
        return {}
    value = record.data["retention"]
    if value is None:
        return {"retention": None}
    if not isinstance(value, str):
        record.fail("retention", "must be an ISO 8601 period such as \"P24M\" (24 months), or null for the site's default")
    try:
        return {"retention": checked_period(value)}
    except ValueError as exc:
        record.fail("retention", str(exc))


def _read_event(index: int, data: Any, default_timezone: str, programme_codes: set[str], speaker_keys: set[str]) -> dict[str, Any]:
    record = Record(f"events[{index}]", data)
    slug = record.pattern("slug", SLUG, "must be lowercase letters, digits and hyphens")
    record.where = f"events[{index}] (slug {slug!r})"
    record.only(EVENT_KEYS)
    programme = record.data.get("programme")
    if programme is not None and (not isinstance(programme, str) or programme not in programme_codes):
        record.fail("programme", f"{programme!r} is not a programme in this file or in the portal")
    starts_at = record.time("starts_at", required=True)
    ends_at = record.time("ends_at", required=True)
    assert starts_at and ends_at
    if ends_at <= starts_at:
        record.fail("ends_at", "must be after starts_at")
    tz = record.text("timezone", max_length=64) or default_timezone
    if known_zone(tz) is None:
        record.fail("timezone", f"{tz!r} is not a known time zone (e.g. Asia/Singapore)")
    opens = record.time("registration_opens")
    closes = record.time("registration_closes")
    if opens and closes and closes <= opens:
        record.fail("registration_closes", "must be after registration_opens")
    online_url = record.text("online_url", max_length=500) or None
    if online_url and not online_url.startswith(("https://", "http://")):
        record.fail("online_url", "must start with https:// or http://")
    category = record.text("category", max_length=40) or "seminar"
    if not SLUG.match(category):
        record.fail("category", "must be lowercase letters, digits and hyphens")
    values = {
        "slug": slug,
        "title": record.text("title", required=True, max_length=500),
        "programme": programme,
        "category": category,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "timezone": tz,
        "all_day": record.boolean("all_day", False),
        "venue": record.text("venue", max_length=300),
        "address": record.text("address", max_length=500),
        "online_url": online_url,
        "capacity": record.capacity("capacity"),
        "waitlist": record.boolean("waitlist", True),
        "status": record.choice("status", EventStatus, default=EventStatus.DRAFT),
        "registration_opens_at": opens,
        "registration_closes_at": closes,
        "description": record.text("description", max_length=50_000, multiline=True),
        "speakers": record.string_list("speakers"),
        "form": record.form(),
    }
    if record.data.get("sessions") is not None:
        values["sessions"] = read_sessions(record.where, record.data["sessions"], starts_at, ends_at, speaker_keys)
    record.reminders(values)
    record.followup(values)
    record.certificate_rule(values)
    return values


def apply_event_values(event: Event, values: dict[str, Any], *, now: datetime) -> bool:
    """Set an event's fields; raise its SEQUENCE when the schedule, place or status changed.
    Returns whether anything changed."""
    changed = False
    schedule_changed = False
    for key, value in values.items():
        if getattr(event, key) != value:
            setattr(event, key, value)
            changed = True
            schedule_changed |= key in SCHEDULE_FIELDS
    if schedule_changed and event.id is not None:
        event.sequence = (event.sequence or 0) + 1
    if event.status == EventStatus.PUBLISHED and event.published_at is None:
        event.published_at = now
    if changed:
        event.updated_at = now
    return changed


def import_data(session: Session, data: Any, *, default_timezone: str = "Asia/Singapore") -> ImportReport:
    """Create or update programmes (by code) and events (by slug). Every record is checked
    before anything is written, and the caller's transaction holds the whole import, so a bad
    file (or a form change that would take answers' meaning away) changes nothing."""
    if not isinstance(data, dict):
        raise ImportProblem("the file must hold a JSON object with \"programmes\" and/or \"events\"")
    for key in data:
        if key not in FILE_KEYS:
            raise ImportProblem(f"unknown top-level key {key!r}{did_you_mean(key, FILE_KEYS)}: the file holds \"programmes\", \"events\" and \"speakers\"")
    raw_programmes = data.get("programmes") or []
    raw_events = data.get("events") or []
    if not isinstance(raw_programmes, list) or not isinstance(raw_events, list):
        raise ImportProblem("\"programmes\" and \"events\" must be lists")

    programmes = [_read_programme(i, p) for i, p in enumerate(raw_programmes)]
    no_repeats([p["code"] for p in programmes], "programmes", "code")
    existing_codes = set(session.scalars(select(Programme.code)))
    codes = existing_codes | {p["code"] for p in programmes}
    speakers = read_speakers(data["speakers"]) if data.get("speakers") is not None else []
    speaker_keys = set(session.scalars(select(Speaker.key))) | {s["key"] for s in speakers}
    events = [_read_event(i, e, default_timezone, codes, speaker_keys) for i, e in enumerate(raw_events)]
    no_repeats([e["slug"] for e in events], "events", "slug")

    now = utcnow()
    counts = {"pc": 0, "pu": 0, "ec": 0, "eu": 0, "forms": 0, "sessions": 0}
    counts["sc"], counts["su"] = apply_speakers(session, speakers, now=now)
    by_code = {p.code: p for p in session.scalars(select(Programme))}
    programme_forms: list[tuple[Programme, FormSpec]] = []
    for values in programmes:
        spec = values.pop("form")
        programme = by_code.get(values["code"])
        if programme is None:
            programme = Programme(**values, created_at=now, updated_at=now)
            session.add(programme)
            by_code[programme.code] = programme
            counts["pc"] += 1
        else:
            changed = False
            for key, value in values.items():
                if getattr(programme, key) != value:
                    setattr(programme, key, value)
                    changed = True
            counts["pu"] += changed
        if spec.says_something:
            programme_forms.append((programme, spec))
    session.flush()
    # The programmes' forms before the events': an event that says only organisation_required
    # starts its own form from its programme's as this file leaves it.
    if programme_forms:
        default = definition(find_form(session, Owner()))
        for programme, spec in programme_forms:
            counts["forms"] += save_from_file(session, Owner(programme_id=programme.id), spec, default)

    slugs = [e["slug"] for e in events]
    # Locked, in one order: an event's follow-up may be going out (the worker's planner locks
    # it to start one), and what was sent must stay what the event says.
    by_slug = (
        {e.slug: e for e in session.scalars(select(Event).where(Event.slug.in_(slugs)).order_by(Event.id).with_for_update())}
        if slugs else {}
    )
    event_forms: list[tuple[Event, FormSpec]] = []
    event_sessions: list[tuple[Event, list[dict[str, Any]]]] = []
    published: list[Event] = []
    for index, values in enumerate(events):
        spec = values.pop("form")
        timetable = values.pop("sessions", None)
        code = values.pop("programme")
        values["programme_id"] = by_code[code].id if code else None
        event = by_slug.get(values["slug"])
        was = event.status if event is not None else None
        if event is None:
            event = Event(created_at=now, sequence=0, published_at=None)
            apply_event_values(event, values, now=now)
            session.add(event)
            counts["ec"] += 1
        else:
            if "followup" in values and values["followup"] != event.followup and _followup_sent(session, event):
                raise ImportProblem(f"events[{index}] (slug {event.slug!r}): followup: it was sent already, so it cannot change")
            counts["eu"] += apply_event_values(event, values, now=now)
        if spec.says_something:
            event_forms.append((event, spec))
        if timetable is not None:
            event_sessions.append((event, timetable))
        if event.status == EventStatus.PUBLISHED and was != EventStatus.PUBLISHED:
            published.append(event)
    session.flush()
    for event in published:
        # Announced when this import publishes it, never because it was imported again (and
        # once however often it is published: mail.mailings keeps the count).
        announce_event(session, event, now=now)
    for event, spec in event_forms:
        counts["forms"] += save_from_file(session, Owner(event_id=event.id), spec, definition_for_event(session, event))
    for event, timetable in event_sessions:
        counts["sessions"] += len(apply_sessions(session, event, timetable, now=now))
    session.flush()
    return ImportReport(
        counts["pc"], counts["pu"], counts["ec"], counts["eu"], counts["forms"], counts["sc"], counts["su"], counts["sessions"]
    )


def _followup_sent(session: Session, event: Event) -> bool:
    """Whether the event's follow-up has begun to go out (its mailing exists)."""
    return session.scalar(select(Mailing.id).where(Mailing.key == followup_key(event.id))) is not None

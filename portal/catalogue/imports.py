"""Creating and updating programmes and events: the import file, the demo, and the rule that
changing an event's time, place or status raises its iCalendar SEQUENCE.

The file is one JSON object with "programmes" and/or "events", each a list of records:
- a programme: code, name, admission; optional summary, description;
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

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.catalogue.formfiles import FormSpec, save_from_file
from portal.catalogue.reminders import FOLLOWUP_KEYS, checked_followup, normalise_reminders
from portal.db import utcnow
from portal.errors import ImportProblem
from portal.mail.mailings import announce_event, followup_key
from portal.models import Admission, Event, EventStatus, Mailing, Programme
from portal.questions.schema import FormDefinition, FormDefinitionError, parse_form
from portal.questions.store import Owner, definition, definition_for_event, find_form
from portal.registrations.attendance import checked_rule, number_of_days

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CODE = SLUG
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Changing one of these moves the event in somebody's calendar: SEQUENCE must rise.
SCHEDULE_FIELDS = ("starts_at", "ends_at", "timezone", "all_day", "venue", "address", "online_url", "status")

FILE_KEYS = ("programmes", "events")
FORM_KEYS = ("form", "organisation_required")
PROGRAMME_KEYS = ("code", "name", "admission", "summary", "description", *FORM_KEYS)
EVENT_KEYS = (
    "slug", "title", "programme", "category", "starts_at", "ends_at", "timezone", "all_day", "venue", "address",
    "online_url", "capacity", "waitlist", "status", "registration_opens", "registration_closes", "description",
    "speakers", "reminders", "followup", "certificate_rule", *FORM_KEYS,
)


@dataclass(frozen=True)
class ImportReport:
    programmes_created: int = 0
    programmes_updated: int = 0
    events_created: int = 0
    events_updated: int = 0
    forms_saved: int = 0

    def __str__(self) -> str:
        forms = f"; forms: {self.forms_saved} saved" if self.forms_saved else ""
        return (
            f"programmes: {self.programmes_created} created, {self.programmes_updated} updated; "
            f"events: {self.events_created} created, {self.events_updated} updated{forms}"
        )


class _Record:
    """Reads one record's fields, naming the record and field in every complaint."""

    def __init__(self, where: str, data: Any) -> None:
        self.where = where
        if not isinstance(data, dict):
            self.fail(None, "must be an object")
        self.data: dict[str, Any] = data

    def fail(self, key: str | None, problem: str) -> NoReturn:
        raise ImportProblem(f"{self.where}{': ' + key if key else ''}: {problem}")

    def only(self, allowed: tuple[str, ...]) -> None:
        """Refuse a key the record may not have, rather than ignore what it holds."""
        for key in self.data:
            if key not in allowed:
                self.fail(None, f"unknown key {key!r}{_did_you_mean(key, allowed)}")

    def form(self) -> FormSpec:
        """The record's registration form, if it says anything of it."""
        organisation_required = self.data.get("organisation_required")
        if organisation_required is not None and not isinstance(organisation_required, bool):
            self.fail("organisation_required", "must be true or false")
        questions: FormDefinition | None = None
        if self.data.get("form") is not None:
            try:
                questions = parse_form(self.data["form"])
            except FormDefinitionError as exc:
                self.fail(None, exc.message)
        return FormSpec(self.where, questions, organisation_required)

    def text(self, key: str, *, required: bool = False, max_length: int = 500, default: str = "", multiline: bool = False) -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return default
        if not isinstance(value, str):
            self.fail(key, "must be a string")
        value = value.strip() if not multiline else value
        if required and not value.strip():
            self.fail(key, "must not be empty")
        if len(value) > max_length:
            self.fail(key, f"is longer than {max_length} characters")
        if CONTROL.search(value) or (not multiline and ("\n" in value or "\r" in value)):
            self.fail(key, "contains control characters")
        return value

    def pattern(self, key: str, regex: re.Pattern[str], explain: str, max_length: int = 120) -> str:
        value = self.text(key, required=True, max_length=max_length)
        if not regex.match(value):
            self.fail(key, f"{value!r} {explain}")
        return value

    def choice(self, key: str, enum_cls: Any, default: Any = None) -> Any:
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        allowed = [m.value for m in enum_cls]
        if value not in allowed:
            self.fail(key, f"must be one of {', '.join(allowed)} (got {value!r})")
        return enum_cls(value)

    def time(self, key: str, *, required: bool = False) -> datetime | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, str):
            self.fail(key, "must be an ISO 8601 string with an offset, e.g. 2027-03-08T09:00:00+08:00")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(key, f"{value!r} is not an ISO 8601 date and time")
        if parsed.tzinfo is None:
            self.fail(key, f"{value!r} has no UTC offset; write it like 2027-03-08T09:00:00+08:00")
        return parsed

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, "must be true or false")
        return value

    def capacity(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 1_000_000:
            self.fail(key, "must be null (unlimited) or a whole number from 0 to 1000000")
        return value

    def string_list(self, key: str) -> list[str]:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, "must be a list of strings")
        if len(value) > 50 or any(len(v) > 300 or CONTROL.search(v) for v in value):
            self.fail(key, "has more than 50 entries, an entry over 300 characters, or control characters")
        return [v.strip() for v in value]

    def reminders(self, values: dict[str, Any]) -> None:
        """`reminders` into `values` if the record has the key: None (the site's default), or
        the durations normalised; left out, the event keeps what it has."""
        if "reminders" not in self.data:
            return
        value = self.data["reminders"]
        if value is not None and not isinstance(value, list):
            self.fail("reminders", 'must be a list of ISO 8601 durations before the start, like ["P2D", "PT2H"], or [] for none')
        try:
            values["reminders"] = None if value is None else normalise_reminders(value)
        except ValueError as exc:
            self.fail("reminders", str(exc))

    def followup(self, values: dict[str, Any]) -> None:
        """`followup` into `values` if the record has the key: None, or the follow-up checked."""
        if "followup" not in self.data:
            return
        value = self.data["followup"]
        if value is None:
            values["followup"] = None
            return
        if not isinstance(value, dict):
            self.fail("followup", "must be an object {\"after\": \"P1D\", \"subject\": ..., \"body\": ...} or null")
        for key in value:
            if key not in FOLLOWUP_KEYS:
                self.fail("followup", f"unknown key {key!r}{_did_you_mean(key, FOLLOWUP_KEYS)}")
        for key in FOLLOWUP_KEYS:
            if key not in value:
                self.fail("followup", f"{key!r} is required")
        try:
            values["followup"] = checked_followup(value["after"], value["subject"], value["body"])
        except ValueError as exc:
            self.fail("followup", str(exc))


    def certificate_rule(self, values: dict[str, Any]) -> None:
        """`certificate_rule` into `values` if the record has the key: {"days": n}, {"share":
        0.8} or null (every day), checked against the event's days; left out, it stays."""
        if "certificate_rule" not in self.data:
            return
        try:
            values["certificate_rule"] = checked_rule(
                self.data["certificate_rule"], number_of_days(values["starts_at"], values["ends_at"], values["timezone"])
            )
        except ValueError as exc:
            self.fail("certificate_rule", str(exc))


def _read_programme(index: int, data: Any) -> dict[str, Any]:
    record = _Record(f"programmes[{index}]", data)
    code = record.pattern("code", CODE, "must be lowercase letters, digits and hyphens", max_length=40)
    record.where = f"programmes[{index}] (code {code!r})"
    record.only(PROGRAMME_KEYS)
    return {
        "code": code,
        "name": record.text("name", required=True, max_length=200),
        "admission": record.choice("admission", Admission),
        "summary": record.text("summary", max_length=500),
        "description": record.text("description", max_length=20_000, multiline=True),
        "form": record.form(),
    }


def known_zone(name: str) -> ZoneInfo | None:
    """The IANA time zone called `name`, or None when there is none. A name longer than any
    zone's is refused before ZoneInfo looks for a file of that name (an OSError)."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _read_event(index: int, data: Any, default_timezone: str, programme_codes: set[str]) -> dict[str, Any]:
    record = _Record(f"events[{index}]", data)
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
            raise ImportProblem(f"unknown top-level key {key!r}{_did_you_mean(key, FILE_KEYS)}: the file holds \"programmes\" and \"events\"")
    raw_programmes = data.get("programmes") or []
    raw_events = data.get("events") or []
    if not isinstance(raw_programmes, list) or not isinstance(raw_events, list):
        raise ImportProblem("\"programmes\" and \"events\" must be lists")

    programmes = [_read_programme(i, p) for i, p in enumerate(raw_programmes)]
    _no_repeats([p["code"] for p in programmes], "programmes", "code")
    existing_codes = set(session.scalars(select(Programme.code)))
    codes = existing_codes | {p["code"] for p in programmes}
    events = [_read_event(i, e, default_timezone, codes) for i, e in enumerate(raw_events)]
    _no_repeats([e["slug"] for e in events], "events", "slug")

    now = utcnow()
    counts = {"pc": 0, "pu": 0, "ec": 0, "eu": 0, "forms": 0}
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
    published: list[Event] = []
    for index, values in enumerate(events):
        spec = values.pop("form")
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
        if event.status == EventStatus.PUBLISHED and was != EventStatus.PUBLISHED:
            published.append(event)
    session.flush()
    for event in published:
        # Announced when this import publishes it, never because it was imported again (and
        # once however often it is published: mail.mailings keeps the count).
        announce_event(session, event, now=now)
    for event, spec in event_forms:
        counts["forms"] += save_from_file(session, Owner(event_id=event.id), spec, definition_for_event(session, event))
    session.flush()
    return ImportReport(counts["pc"], counts["pu"], counts["ec"], counts["eu"], counts["forms"])


def _followup_sent(session: Session, event: Event) -> bool:
    """Whether the event's follow-up has begun to go out (its mailing exists)."""
    return session.scalar(select(Mailing.id).where(Mailing.key == followup_key(event.id))) is not None


def _did_you_mean(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _no_repeats(values: list[str], where: str, key: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise ImportProblem(f"{where}[{i}]: {key}: {value!r} appears more than once in the file")
        seen.add(value)

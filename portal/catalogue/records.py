"""Reading the import file's records: each field checked, every complaint naming the record
and the field (catalogue.imports and catalogue.timetable read their records with it)."""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from datetime import datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.catalogue.formfiles import FormSpec
from portal.catalogue.reminders import FOLLOWUP_KEYS, checked_followup, normalise_reminders
from portal.errors import ImportProblem
from portal.questions.schema import FormDefinition, FormDefinitionError, parse_form
from portal.registrations.attendance import checked_rule, number_of_days

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
CODE = SLUG
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Record:
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
                self.fail(None, f"unknown key {key!r}{did_you_mean(key, allowed)}")

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
                self.fail("followup", f"unknown key {key!r}{did_you_mean(key, FOLLOWUP_KEYS)}")
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


@functools.lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """The IANA zones to offer in a form, sorted: Area/Location names and UTC, without the
    Etc/, SystemV/ and similar aliases (they stay accepted when typed)."""
    skip = ("Etc/", "SystemV/", "posix/", "right/", "US/", "Canada/", "Mexico/", "Brazil/", "Chile/")
    names = {z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(skip)}
    return ("UTC", *sorted(names))


def known_zone(name: str) -> ZoneInfo | None:
    """The IANA time zone called `name`, or None when there is none. A name longer than any
    zone's is refused before ZoneInfo looks for a file of that name (an OSError)."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def did_you_mean(key: str, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def no_repeats(values: list[str], where: str, key: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise ImportProblem(f"{where}[{i}]: {key}: {value!r} appears more than once in the file")
        seen.add(value)

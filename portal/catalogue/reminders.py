"""Reminders before an event and its follow-up after: the rules for what an organiser or an
import file may set, and the schedule in words for the back office.

An event's `reminders` is None (the site's default, PORTAL_REMINDERS), [] (none), or a list
of ISO 8601 durations before the start, stored normalised (text.format_duration: P1W is
P7D, PT24H is P1D) and longest first, so each reminder has one spelling and the worker's
mailing key for it (reminder:12:P2D) never changes with how it was typed. Its `followup` is
None or {"after": a duration after the end, "subject": one line, "body": Markdown}.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.errors import InvalidInput
from portal.mail.letters import check_placeholders
from portal.models import Event
from portal.text import format_duration, parse_duration

MAX_REMINDERS = 5
LONGEST = timedelta(days=90)
FOLLOWUP_KEYS = ("after", "subject", "body")
MAX_SUBJECT = 300
MAX_BODY = 50_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _duration(text: str, what: str) -> timedelta:
    try:
        delta = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{exc}.") from None
    if delta < timedelta(minutes=1):
        raise ValueError(f"{text!r} is less than a minute: {what} must be at least a minute.")
    if delta > LONGEST:
        raise ValueError(f"{text!r} is more than 90 days; {what} can be at most P90D (90 days).")
    return delta


def normalise_reminders(values: Sequence[Any]) -> list[str]:
    """Reminders as stored: each an ISO 8601 duration before the start, normalised, longest
    first. ValueError, naming the value, for a duration that is not one, none at all, over 90
    days, said twice (P1D and PT24H are one), or more than MAX_REMINDERS."""
    return _normalised([(value, value) for value in values])


def _normalised(typed: Sequence[tuple[Any, Any]]) -> list[str]:
    """(duration, as the organiser typed it) pairs, normalised; complaints name what was typed."""
    if len(typed) > MAX_REMINDERS:
        raise ValueError(f"At most {MAX_REMINDERS} reminders, not {len(typed)}.")
    seen: dict[timedelta, str] = {}
    for value, label in typed:
        if not isinstance(value, str):
            raise ValueError(f"{label!r} is not a duration: write each like \"P2D\" (two days) or \"PT2H\" (two hours).")
        try:
            delta = _duration(value, "a reminder")
        except ValueError as exc:
            raise ValueError(str(exc).replace(repr(value), repr(label), 1)) from None
        if delta in seen:
            first = seen[delta]
            same = "twice" if first.strip().upper() == label.strip().upper() else f"twice ({first!r} is the same time)"
            raise ValueError(f"{label!r} is there {same}: each reminder once.")
        seen[delta] = label
    return [format_duration(delta) for delta in sorted(seen, reverse=True)]


def normalise_after(value: Any) -> str:
    """A follow-up's time after the end, normalised; ValueError naming it otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: write it like \"P1D\" (a day after the end).")
    return format_duration(_duration(value, "a follow-up"))


def checked_followup(after: Any, subject: Any, body: Any) -> dict[str, str]:
    """A follow-up as stored, after its rules: ValueError saying what to fix, and naming an
    unknown placeholder (mail.letters)."""
    when = normalise_after(after)
    if not isinstance(subject, str) or not subject.strip():
        raise ValueError("The subject is empty: write one.")
    subject = " ".join(subject.split())
    if len(subject) > MAX_SUBJECT or _CONTROL.search(subject):
        raise ValueError(f"The subject must be one line of at most {MAX_SUBJECT} characters, without control characters.")
    if not isinstance(body, str) or not body.strip():
        raise ValueError("The message is empty: write what the follow-up says.")
    body = body.replace("\r\n", "\n").strip("\n")
    if len(body) > MAX_BODY or _CONTROL.search(body):
        raise ValueError(f"The message must be at most {MAX_BODY:,} characters, without control characters.")
    try:
        check_placeholders(subject, body)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    return {"after": when, "subject": subject, "body": body}


# --- typed in the back office: ISO 8601, or words ------------------------------------------

_UNITS = {
    "w": "W", "wk": "W", "wks": "W", "week": "W", "weeks": "W",
    "d": "D", "day": "D", "days": "D",
    "h": "H", "hr": "H", "hrs": "H", "hour": "H", "hours": "H",
    "m": "M", "min": "M", "mins": "M", "minute": "M", "minutes": "M",
}
_PART = re.compile(r"(\d{1,4})\s*([a-z]+)")
_SEPARATOR = re.compile(r"\s*(?:[,;\n]|\band\b)\s*", re.IGNORECASE)
# "2 days before the start", "1 day after the end": the words after the duration say nothing more.
_TAIL = re.compile(r"\s*\b(?:(?:before|after)(?:\s+(?:the\s+)?(?:start|end|event))?|ahead|later)\s*$", re.IGNORECASE)


def _words_to_iso(item: str) -> str:
    """'2 days', '1 day 12 hours', '90 min' as ISO 8601; ValueError naming the item."""
    text = _TAIL.sub("", item.strip().lower())
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip():
        raise ValueError(f"{item.strip()!r} is not a duration: write it like P2D or 2 days, PT2H or 2 hours.")
    amounts = {"W": 0, "D": 0, "H": 0, "M": 0}
    for number, unit in parts:
        if unit in ("month", "months", "mo", "year", "years", "y"):
            raise ValueError(f"{item.strip()!r}: months and years have no fixed length; write days or weeks.")
        if unit not in _UNITS:
            raise ValueError(f"{item.strip()!r}: {unit!r} is not a unit; use weeks, days, hours or minutes.")
        amounts[_UNITS[unit]] += int(number)
    days = amounts["W"] * 7 + amounts["D"]
    time = "".join(f"{amounts[u]}{u}" for u in ("H", "M") if amounts[u])
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if (days or time) else "PT0S"


def parse_reminders_text(text: str) -> list[str]:
    """Reminders typed in one box, separated by commas (or "and", or lines): each ISO 8601
    (P2D, PT2H) or in words (2 days, 1 day 12 hours); empty: none. Normalised as stored;
    ValueError naming the value that is wrong."""
    items = [item.strip() for item in _SEPARATOR.split(text or "") if item.strip()]
    return _normalised([(item if item.upper().startswith("P") else _words_to_iso(item), item) for item in items])


def parse_after_text(text: str) -> str:
    """A follow-up's time after the end as typed (P1D, or 1 day), normalised; ValueError
    naming it otherwise."""
    item = (text or "").strip()
    iso = item if item.upper().startswith("P") else _words_to_iso(item)
    try:
        return normalise_after(iso)
    except ValueError as exc:
        raise ValueError(str(exc).replace(repr(iso), repr(item), 1)) from None


# --- in words --------------------------------------------------------------------------------


def duration_words(delta: timedelta) -> str:
    """'2 days', '1 day 12 hours', '30 minutes'."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"), (seconds, "second")) if n
    ]
    return " ".join(parts) or "no time"


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def reminders_words(durations: Sequence[str]) -> str:
    """'2 days and 2 hours before the start'; 'no reminders' for none."""
    if not durations:
        return "no reminders"
    return _joined([duration_words(parse_duration(d)) for d in durations]) + " before the start"


@dataclass(frozen=True)
class Reminder:
    duration: str  # as stored: P2D
    words: str  # 2 days
    at: datetime  # when it is due, UTC


@dataclass(frozen=True)
class ReminderSchedule:
    uses_default: bool
    words: str
    reminders: list[Reminder]


def reminder_schedule(event: Event, default: Sequence[str]) -> ReminderSchedule:
    """The event's reminders (its own, or the site's `default`), each with when it is due."""
    durations = list(default) if event.reminders is None else list(event.reminders)
    deltas = sorted({parse_duration(d) for d in durations}, reverse=True)
    reminders = [Reminder(format_duration(d), duration_words(d), event.starts_at - d) for d in deltas]
    return ReminderSchedule(event.reminders is None, reminders_words([r.duration for r in reminders]), reminders)

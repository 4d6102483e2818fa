"""An event held over several days, at the same hours each day, as a calendar should show it:
one VEVENT that recurs daily (RRULE:FREQ=DAILY;COUNT=n), not one block from the first
morning to the last evening.

Which events are days. A timed event whose start and end fall on different dates in its own
zone, and whose end's time of day is after its start's (Monday 09:00 to Friday 17:00: five
days, 09:00 to 17:00 each). An event that runs overnight (18:00 to 12:00 two days later), or
whose end is at the very hour it began, stays one block; an all-day event is dates already
(ical.all_day_dates). The stored start and end say nothing of rest days, so every date from
the first to the last is a day.

Times. DTSTART and DTEND are the first day's hours. While the zone's UTC offset is the same at
those hours on every day (every Singapore event, and any span without a daylight-saving
change), they are UTC instants as everywhere else, and each day's occurrence is exact. When a
change falls in the span (a course in London across the last Sunday of March), a UTC rule
would move the local hour by one after it, so DTSTART and DTEND name the zone (TZID) and the
calendar carries its VTIMEZONE, made from the zone database by icalendar
(Timezone.from_tzinfo) over the years the calendar's series need: RRULE with TZID is what
every client expands (RDATE, the other way, Outlook ignores and others read loosely).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

_NUMBERS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)


@dataclass(frozen=True)
class Days:
    """An event's days: how many, and the first day's start and end in the event's zone."""

    count: int
    start: datetime
    end: datetime
    zone_name: str
    # Whether the zone's UTC offset is the same at those hours on every day.
    steady: bool

    def rule(self) -> dict[str, object]:
        return {"FREQ": "DAILY", "COUNT": self.count}

    def words(self) -> str:
        """'Five days, 09:00–17:00 (Asia/Singapore) each day', for DESCRIPTION."""
        count = _NUMBERS[self.count].capitalize() if self.count < len(_NUMBERS) else str(self.count)
        return f"{count} days, {self.start:%H:%M}–{self.end:%H:%M} ({self.zone_name}) each day"


def event_days(starts_at: datetime, ends_at: datetime, tz: ZoneInfo, *, all_day: bool) -> Days | None:
    """The event's days, or None for an event that stays one block (the module's rule)."""
    if all_day:
        return None
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    if end.date() <= start.date() or end.time() <= start.time():
        return None
    count = (end.date() - start.date()).days + 1
    first_end = datetime.combine(start.date(), end.time(), tz)
    offsets = {
        datetime.combine(start.date() + timedelta(days=n), hour, tz).utcoffset()
        for n in range(count)
        for hour in (start.time(), end.time())
    }
    return Days(count, start, first_end, tz.key, len(offsets) == 1)


# A series that names its zone, as the builder writes it: "DTSTART;TZID=Europe/London:2027…"
# (short enough never to be folded).
_ZONED_START = re.compile(rb"^DTSTART;TZID=([^:;\r\n]+):(\d{4})", re.MULTILINE)


@lru_cache(maxsize=64)
def _vtimezone(name: str, first_year: int, last_year: int) -> bytes:
    """The zone's VTIMEZONE from 1 January of `first_year` to the end of `last_year`.

    icalendar writes an observance that recurs as its first onset (DTSTART) and the later
    ones (RDATE). RFC 5545 counts DTSTART as an onset too, but ical.js (Thunderbird's and
    Nextcloud's parser) takes only the RDATEs of an observance that has some, and would miss
    the first change; so the first onset is among the RDATEs as well (a recurrence set has no
    duplicates, so the other readers see the same changes)."""
    component = icalendar.Timezone.from_tzinfo(
        ZoneInfo(name), name, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1)
    )
    for observance in component.subcomponents:
        if "RDATE" in observance:
            later = observance.pop("RDATE")
            onsets = [observance.DTSTART] + [d.dt for p in (later if isinstance(later, list) else [later]) for d in p.dts]
            observance.add("rdate", onsets)
    return component.to_ical()


def vtimezones(blocks: Iterable[bytes]) -> list[bytes]:
    """The VTIMEZONE components that these VEVENT blocks' TZIDs need, one per zone, each
    covering every year a series of that zone starts in and the next (a series that begins
    in late December ends in January)."""
    years: dict[str, list[int]] = {}
    for block in blocks:
        if b";TZID=" in block:
            for name, year in _ZONED_START.findall(block):
                years.setdefault(name.decode(), []).append(int(year))
    return [_vtimezone(name, min(found), max(found) + 1) for name, found in sorted(years.items())]

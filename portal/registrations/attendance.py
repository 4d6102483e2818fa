"""Attendance per day as organisers read it: the days each registration came (with the first
check-in of each), how many came on a day, and the certificate rule checked and put in words.

The rows of check_ins (checkins.py) are the record. A registration that has a checked_in_at
but no row (set by hand, or by an older version that kept only that time) counts for the day
of its checked_in_at, so that every page says the same of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from portal.models import CheckIn, Event, Registration
from portal.registrations.checkins import day_of, days_needed, event_days

RULE_KEYS = ("days", "share")
# A share below this is a slip (0.8 typed as 0.008), not a rule.
MIN_SHARE = 0.01


def first_check_ins(session: Session, event: Event, registrations: Iterable[Registration]) -> dict[int, dict[date, datetime]]:
    """For each registration, the days it was checked in on, each with its first check-in
    (UTC), in one query per 500 registrations."""
    people = list(registrations)
    found: dict[int, dict[date, datetime]] = {r.id: {} for r in people}
    ids = list(found)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(CheckIn.registration_id, CheckIn.day, func.min(CheckIn.at))
            .where(CheckIn.registration_id.in_(ids[start:start + 500]))
            .group_by(CheckIn.registration_id, CheckIn.day)
        )
        for registration_id, day, at in rows:
            found[registration_id][day] = at
    for r in people:
        if not found[r.id] and r.checked_in_at is not None:
            found[r.id][day_of(event, r.checked_in_at)] = r.checked_in_at
    return found


def checked_in_on(session: Session, event_id: int, day: date) -> int:
    """How many registrations were checked in on one day of an event."""
    return session.scalar(
        select(func.count(distinct(CheckIn.registration_id))).where(CheckIn.event_id == event_id, CheckIn.day == day)
    ) or 0


def day_words(day: date, today: date) -> str:
    """'today', or 'on Mon 8 Mar' for another day."""
    return "today" if day == today else f"on {day:%a %-d %b}"


def short_dates(days: Iterable[date]) -> str:
    """Dates in few words, a month named once: '8, 9, 11 Mar 2027' or '30, 31 Mar, 1 Apr 2027'."""
    ordered = sorted(set(days))
    if not ordered:
        return ""
    parts: list[str] = []
    for i, day in enumerate(ordered):
        last_of_month = i + 1 == len(ordered) or (ordered[i + 1].year, ordered[i + 1].month) != (day.year, day.month)
        parts.append(f"{day.day} {day:%b}" if last_of_month else str(day.day))
    return f"{', '.join(parts)} {ordered[-1].year}"


# --- the certificate rule --------------------------------------------------------------------


def number_of_days(starts_at: datetime, ends_at: datetime, timezone: str) -> int:
    """How many days an event from `starts_at` to `ends_at` has, in its zone (checkins.event_days)."""
    return len(event_days(Event(starts_at=starts_at, ends_at=ends_at, timezone=timezone)))


def share_percent(share: float) -> str:
    """A share of the days as a percentage, without trailing zeros: 0.8 -> '80', 0.125 -> '12.5'."""
    return f"{share * 100:.2f}".rstrip("0").rstrip(".")


def checked_rule(value: Any, days: int) -> dict[str, Any] | None:
    """A certificate rule as it is stored, checked for an event of `days` days: None (every
    day), {"days": n} (n from 1 to the event's days) or {"share": s} (s from 0.01 to 1, the
    share of the days, rounded up). ValueError says what is wrong."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('must be {"days": n}, {"share": 0.8} or null (every day)')
    for key in value:
        if key not in RULE_KEYS:
            raise ValueError(f'unknown key {key!r}: the rule is {{"days": n}} or {{"share": 0.8}}')
    if len(value) != 1:
        raise ValueError('give one of "days" and "share"')
    if "days" in value:
        n = value["days"]
        if isinstance(n, bool) or not isinstance(n, int):
            raise ValueError(f"days must be a whole number from 1 to {days}")
        if not 1 <= n <= days:
            raise ValueError(f"days must be from 1 to {days}, the number of days the event has (got {n})")
        return {"days": n}
    share = value["share"]
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not MIN_SHARE <= share <= 1:
        raise ValueError(f"share must be a number from {MIN_SHARE} to 1 (1% to 100% of the days), got {share!r}")
    # Four decimals: what a percentage with two shows, so that a form saved untouched keeps it.
    return {"share": round(float(share), 4)}


def rule_words(event: Event) -> str:
    """Who earns the event's certificate, in words: 'every day (5 of 5)', 'at least 3 of the
    5 days', 'at least 80% of the days (4 of 5)'."""
    total = len(event_days(event))
    if total == 1:
        return "attending the day"
    rule = event.certificate_rule or {}
    needed = days_needed(event)
    if "days" in rule:
        return f"at least {needed} of the {total} days"
    if "share" in rule:
        return f"at least {share_percent(float(rule['share']))}% of the days ({needed} of {total})"
    return f"every day ({total} of {total})"

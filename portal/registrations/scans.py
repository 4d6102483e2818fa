"""The door's scanner: a ticket's code, read from its QR code or typed, checked against one
event, and the person admitted for the day.

A live scan (the door is online) admits a confirmed registration of this event once a day:
a second scan the same day answers "already checked in" (when, at which door, by whom) and
records nothing. A scan the door made offline and sends later (`sync`) is an admission the
door has already made, so it is recorded even when another door admitted the same person
first: the roster shows both, the earliest is the check-in. Each scan carries the door's id
for it, so a scan sent twice (a retried sync, a form sent again) counts once.

Nothing is recorded for a refused code: not a ticket, unknown (forged or mistyped), another
event's, a registration that is not confirmed, an event that is cancelled, a day the event
does not run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.documents.tickets import PREFIX, code_from_payload, display_code, normalise_code
from portal.models import CheckIn, Event, EventStatus, Organiser, Registration, RegistrationStatus
from portal.registrations import checkins
from portal.registrations.seats import lock_event
from portal.templating import date_range, localtime

S = RegistrationStatus
# A door's clock may be this far ahead of the server's before its time is set aside.
CLOCK_AHEAD = timedelta(minutes=5)
# Scans one sync may carry; a door with more sends them in several.
MAX_SYNC = 500
# What the door page calls a check-in made by a tap on a name (no device named).
TAP = "door page"


class Outcome(StrEnum):
    ADMITTED = "admitted"
    ALREADY = "already"
    NOT_CONFIRMED = "not_confirmed"
    OTHER_EVENT = "other_event"
    WRONG_DAY = "wrong_day"
    CLOSED = "closed"
    UNKNOWN = "unknown"
    INVALID = "invalid"

    @property
    def tone(self) -> str:
        """How the door shows it: admitted (green), already (amber), refused (red)."""
        return {Outcome.ADMITTED: "admitted", Outcome.ALREADY: "already"}.get(self, "refused")


_STATUS_WORDS = {
    S.PENDING: "pending approval",
    S.WAITLISTED: "on the waiting list",
    S.CANCELLED: "cancelled",
    S.REJECTED: "rejected",
}


@dataclass(frozen=True)
class ScanResult:
    """What the door shows for one scan, in words, and what was recorded."""

    outcome: Outcome
    headline: str
    detail: str = ""
    scan_id: str | None = None
    name: str = ""
    organisation: str = ""
    code: str = ""  # as people read it: 7K3QX-2M49D
    status: RegistrationStatus | None = None
    day: date | None = None
    at: datetime | None = None  # when this scan counts from (UTC)
    first_at: datetime | None = None  # the day's first check-in, when it was another
    first_door: str = ""
    clock_note: str = ""  # the door's clock was set aside, and why
    resent: bool = False  # the scan had been received before: nothing new recorded
    recorded: bool = False

    @property
    def tone(self) -> str:
        return self.outcome.tone


@dataclass(frozen=True)
class DoorScan:
    """A scan as a door sends it: its own id for the scan, the code or QR text, when the door
    made it (its clock; None when it did not say), and the door's name for itself."""

    scan_id: str
    code: str
    at: datetime | None
    door: str


def invalid(scan_id: str | None, reason: str) -> ScanResult:
    """The answer to a scan the door sent malformed (recorded nowhere)."""
    return ScanResult(Outcome.INVALID, "Not read", reason, scan_id=scan_id)


def scan(
    session: Session,
    actor: Actor | None,
    slug: str,
    *,
    code_or_payload: str,
    scan_id: str | None = None,
    at: datetime | None = None,
    door: str = "",
    offline: bool = False,
    now: datetime | None = None,
) -> ScanResult:
    """Check one scanned or typed code against the event at `slug`, and admit its holder for
    the day when the ticket is good. `offline`: the door admitted them already (a sync)."""
    event = lock_event(session, slug)
    return _scan(session, actor, event, DoorScan(scan_id or "", code_or_payload, at, door), offline=offline, now=now or utcnow())


def sync(session: Session, actor: Actor | None, slug: str, scans: Sequence[DoorScan], *, now: datetime | None = None) -> list[ScanResult]:
    """Record the scans a door made offline, earliest first; answers in the order sent."""
    if len(scans) > MAX_SYNC:
        raise ValueError(f"at most {MAX_SYNC} scans a sync")
    now = now or utcnow()
    event = lock_event(session, slug)
    order = sorted(range(len(scans)), key=lambda i: scans[i].at or now)
    answers: dict[int, ScanResult] = {}
    for i in order:
        answers[i] = _scan(session, actor, event, scans[i], offline=True, now=now)
    return [answers[i] for i in range(len(scans))]


def read_code(text: str) -> tuple[str | None, str]:
    """(the check-in code, "") or (None, why it is not one). A QR's text must be the portal's
    (PTK1:…); anything else is read as typed."""
    text = (text or "").strip()
    if text[: len(PREFIX)].upper() == PREFIX:
        code = code_from_payload(text)
        return (code, "") if code else (None, "This QR code is not a readable ticket of the portal.")
    code = normalise_code(text)
    if code is None:
        return None, "That is not a check-in code: a code has 10 letters and digits, like 7K3QX-2M49D."
    return code, ""


def _scan(session: Session, actor: Actor | None, event: Event, door_scan: DoorScan, *, offline: bool, now: datetime) -> ScanResult:
    scan_id = door_scan.scan_id or None
    code, problem = read_code(door_scan.code)
    if code is None:
        return ScanResult(Outcome.UNKNOWN, "Not a ticket", problem, scan_id=scan_id)
    if event.status == EventStatus.CANCELLED:
        return ScanResult(
            Outcome.CLOSED, "Event cancelled", "Nobody can be checked in: this event is cancelled.", scan_id=scan_id,
            code=display_code(code),
        )
    registration = session.scalar(select(Registration).where(Registration.checkin_code == code))
    if registration is None:
        return ScanResult(
            Outcome.UNKNOWN, "Unknown code", "No ticket has this code. Check that it was typed as printed on the ticket.",
            scan_id=scan_id, code=display_code(code),
        )
    person: dict[str, Any] = {
        "scan_id": scan_id, "name": registration.name, "organisation": registration.organisation,
        "code": display_code(code), "status": registration.status,
    }
    if registration.event_id != event.id:
        other = session.get_one(Event, registration.event_id)
        when = date_range(other.starts_at, other.ends_at, other.timezone, other.all_day)
        return ScanResult(Outcome.OTHER_EVENT, "Ticket for another event", f"This ticket is for “{other.title}”, {when}.", **person)
    if scan_id is not None:
        seen = session.scalar(select(CheckIn).where(CheckIn.scan_id == scan_id))
        if seen is not None:
            if seen.registration_id != registration.id:
                return invalid(scan_id, "The door sent this scan's id with another ticket before. Scan the ticket again.")
            return replace(_answer(session, event, registration, seen, person), resent=True, recorded=True)
    if registration.status != S.CONFIRMED:
        words = _STATUS_WORDS[registration.status]
        return ScanResult(Outcome.NOT_CONFIRMED, f"Not confirmed: {words}", f"Do not admit: this registration is {words}.", **person)
    at, clock_note = _when(event, door_scan.at, now)
    if not _within(event, at):
        today = localtime(at, event.timezone, "%a %-d %b %Y")
        runs = date_range(event.starts_at, event.ends_at, event.timezone, event.all_day)
        return ScanResult(Outcome.WRONG_DAY, "Not today", f"This event runs {runs}; it is now {today}.", **person, clock_note=clock_note)
    day = checkins.day_of(event, at)
    if not offline:
        first = _first(session, event, registration, day)
        if first is not None:
            return _already(session, event, day, first, person, at=at, clock_note=clock_note)
    old = registration.checked_in_at
    admission = checkins.admit(
        session, event, registration, at=at, scan_id=scan_id, door=door_scan.door, organiser_id=actor.id if actor else None,
    )
    if not admission.new:  # the same scan id, recorded by a request running at the same moment
        return replace(_answer(session, event, registration, admission.check_in, person), resent=True, recorded=True)
    row = admission.check_in
    again = admission.first_that_day.id != row.id
    audit.record(
        session, actor, "registration.check_in", event_id=event.id, registration_id=registration.id,
        before={"checked_in_at": old},
        after={"checked_in_at": registration.checked_in_at, "day": day.isoformat(), "door": row.door or TAP, **({"again": True} if again else {})},
        now=now,
    )
    if again:
        first = admission.first_that_day
        already = _already(session, event, day, _First(first.at, first.door, first.organiser_id, first.id), person, at=at, clock_note=clock_note)
        return replace(already, recorded=True)
    return ScanResult(Outcome.ADMITTED, "Checked in", _day_words(event, day), day=day, at=at, clock_note=clock_note, recorded=True, **person)


def _answer(session: Session, event: Event, registration: Registration, row: CheckIn, person: dict[str, Any]) -> ScanResult:
    """The answer for a recorded scan: admitted if it is the day's first, else already."""
    first = _first(session, event, registration, row.day)
    if first is None or first.id == row.id:
        return ScanResult(Outcome.ADMITTED, "Checked in", _day_words(event, row.day), day=row.day, at=row.at, **person)
    return _already(session, event, row.day, first, person, at=row.at)


def _already(
    session: Session, event: Event, day: date, first: _First, person: dict[str, Any], *, at: datetime, clock_note: str = "",
) -> ScanResult:
    """Already checked in that day: when (the first check-in's time, in the event's zone), at
    which door, by which organiser."""
    by = ""
    if first.organiser_id is not None:
        organiser = session.get(Organiser, first.organiser_id)
        by = (organiser.name or organiser.email) if organiser else ""
    words = [f"Checked in at {localtime(first.at, event.timezone, '%H:%M')}", first.door or TAP]
    if by:
        words.append(f"by {by}")
    return ScanResult(
        Outcome.ALREADY, "Already checked in", ", ".join(words) + ".", day=day, at=at, first_at=first.at,
        first_door=first.door or TAP, clock_note=clock_note, **person,
    )


@dataclass(frozen=True)
class _First:
    at: datetime
    door: str
    organiser_id: int | None
    id: int


def _first(session: Session, event: Event, registration: Registration, day: date) -> _First | None:
    """The day's first check-in of a registration; a checked_in_at with no row (an older tap)
    counts for its day."""
    row = checkins.first_of_day(session, registration.id, day)
    if row is not None:
        return _First(row.at, row.door, row.organiser_id, row.id)
    at = registration.checked_in_at
    if at is not None and checkins.day_of(event, at) == day:
        return _First(at, "", None, 0)
    return None


def _window(event: Event) -> tuple[date, date]:
    """The dates a door may admit on: the evening before the first day (a registration desk
    opening early counts for the first day), then the event's days. Never after the last:
    a day after the event is not a day attended (a late sync carries the door's own time)."""
    days = checkins.event_days(event)
    return days[0] - timedelta(days=1), days[-1]


def _within(event: Event, at: datetime) -> bool:
    first, last = _window(event)
    return first <= checkins.local_day(event, at) <= last


def _when(event: Event, at: datetime | None, now: datetime) -> tuple[datetime, str]:
    """When the scan counts from: the door's time when it is plausible (within the event's
    days and a day either side, and not ahead of the server's clock), else the server's."""
    if at is None:
        return now, ""
    if at <= now + CLOCK_AHEAD and _within(event, at):
        return min(at, now), ""
    said = localtime(at, event.timezone, "%a %-d %b %Y, %H:%M")
    return now, f"The door's clock said {said}, which cannot be right; the server's time was used."


def _day_words(event: Event, day: date) -> str:
    days = checkins.event_days(event)
    if len(days) == 1:
        return ""
    return f"Day {days.index(day) + 1} of {len(days)}, {day:%a %-d %b}."

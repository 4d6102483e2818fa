"""Who saw personal data, and how much: each export of it (roster, session roster, badges,
certificates) and each reveal of a sensitive answer is an audit entry with its size and never
the data itself; the data-access log lists them for a period, for the questions a breach
brings (who took what, when).

A streamed export records itself when the stream ends, in a short writing transaction of its
own after the reading one: only then are its rows and bytes known, and the read holds no write
lock meanwhile. A download broken off part way is recorded too, with what was sent and
"complete": false.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from portal import audit
from portal.db import transaction
from portal.errors import InvalidInput, NotFound
from portal.models import AuditActor, AuditEntry, Certificate, Event, Organiser, Registration, event_by_slug
from portal.questions.store import definition_for_event
from portal.registrations.sealed import all_answers
from portal.registrations.uploads import DOWNLOAD_ACTION
from portal.rosters.answers import text_function
from portal.rosters.exports import ExportInfo, csv_chunks, export_chunks, neutralise
from portal.rosters.session_roster import csv_batches, export_rows

REVEAL = "answer.reveal"
EXPORT_ROSTER = "export.roster"
EXPORT_SESSION = "export.session_roster"
EXPORT_BADGES = "export.badges"
EXPORT_CERTIFICATE = "export.certificate"
EXPORT_CERTIFICATES = "export.certificates"
EXPORT_SUBSCRIBERS = "export.subscribers"

# What the log lists, in words.
ACTIONS = {
    EXPORT_ROSTER: "Exported the roster",
    EXPORT_SESSION: "Exported a session's roster",
    EXPORT_BADGES: "Downloaded name badges",
    EXPORT_CERTIFICATE: "Downloaded a certificate",
    EXPORT_CERTIFICATES: "Exported the certificates",
    EXPORT_SUBSCRIBERS: "Exported the subscribers",
    REVEAL: "Revealed a sensitive answer",
    DOWNLOAD_ACTION: "Downloaded a sensitive file",
}
PER_PAGE = 100
DEFAULT_DAYS = 30


def record_export(
    session: Session, actor: audit.Actor | None, action: str, event_id: int | None, *, rows: int, size: int,
    registration_id: int | None = None, **details: Any,
) -> None:
    """One export of personal data: what, how many rows (people, badges, certificates) and
    bytes; actor None for the command line."""
    audit.record(session, actor, action, event_id=event_id, registration_id=registration_id, after={**details, "rows": rows, "bytes": size})


# --- exports -------------------------------------------------------------------------------


def roster_export_stream(
    sessions: sessionmaker[Session], actor: audit.Actor | None, info: ExportInfo, fmt: str,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The roster export's bytes (exports.export_chunks, in one reading transaction), then
    its audit entry, in a writing transaction of its own, once the stream has ended."""
    return recorded_export_stream(
        sessions, actor, EXPORT_ROSTER, info.event_id, lambda session, counted: export_chunks(session, info, fmt, counted),
        progress=progress, format=fmt, sensitive=list(info.sensitive),
    )


def recorded_export_stream(
    sessions: sessionmaker[Session], actor: audit.Actor | None, action: str, event_id: int | None,
    chunks: Callable[[Session, Callable[[int], None]], Iterable[bytes]],
    *, progress: Callable[[int], None] | None = None, **details: Any,
) -> Iterator[bytes]:
    """An export streamed from one reading transaction, then recorded as `action` with its
    rows and bytes (record_export) in a writing transaction of its own once the stream has
    ended. `chunks(session, counted)` gives the bytes and calls counted(rows so far)."""
    rows = 0
    size = 0
    complete = False

    def counted(done: int) -> None:
        nonlocal rows
        rows = done
        if progress is not None:
            progress(done)

    try:
        with transaction(sessions, write=False) as session:
            for chunk in chunks(session, counted):
                size += len(chunk)
                yield chunk
        complete = True
    finally:
        if size:
            extra = {} if complete else {"complete": False}
            with transaction(sessions, write=True) as session:
                record_export(session, actor, action, event_id, rows=rows, size=size, **details, **extra)


def session_roster_file(session: Session, actor: audit.Actor, slug: str, key: str) -> tuple[str, bytes]:
    """A session's roster as CSV (its file name and bytes), recorded as an export. It holds no
    answers: names, emails, organisations, places and check-ins."""
    filename, rows = export_rows(session, slug, key)
    body = b"".join(csv_chunks(csv_batches(rows)))
    record_export(session, actor, EXPORT_SESSION, event_by_slug(session, slug).id, rows=len(rows) - 1, size=len(body), format="csv", event_session=key)
    return filename, body


def record_badges(session: Session, actor: audit.Actor | None, slug: str, count: int, size: int, layout: str) -> None:
    record_export(session, actor, EXPORT_BADGES, event_by_slug(session, slug).id, rows=count, size=size, format="pdf", layout=layout)


def record_certificate(session: Session, actor: audit.Actor, certificate_id: int, size: int) -> None:
    """One certificate's PDF, downloaded by an organiser."""
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound("There is no such certificate.")
    record_export(
        session, actor, EXPORT_CERTIFICATE, certificate.event_id, registration_id=certificate.registration_id,
        rows=1, size=size, format="pdf",
    )


def record_certificates(session: Session, actor: audit.Actor | None, slug: str, count: int, size: int) -> None:
    """An event's certificates written as files (the command line)."""
    record_export(session, actor, EXPORT_CERTIFICATES, event_by_slug(session, slug).id, rows=count, size=size, format="pdf")


# --- reveals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revealed:
    key: str
    text: str


def reveal_answer(session: Session, actor: audit.Actor, registration_id: int, key: str) -> Revealed:
    """One sensitive answer of one registration, for the organiser who asked; recorded in the
    audit log with its size (never its value)."""
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("There is no such registration.")
    event = session.get_one(Event, registration.event_id)
    question = definition_for_event(session, event).by_key().get(key)
    if question is None or not question.asks or not question.sensitive:
        raise InvalidInput("That is not a sensitive question of this registration's form: there is nothing to reveal.")
    if question.type == "file":
        raise InvalidInput("A sensitive file is revealed by downloading it, which is recorded the same way.")
    text = text_function(question)(all_answers(session, registration).get(key))
    audit.record(
        session, actor, REVEAL, event_id=event.id, registration_id=registration.id,
        after={"question": key, "bytes": len(text.encode("utf-8"))},
    )
    return Revealed(key, text)


# --- the log -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    tz: str

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: from the first day's midnight to the day after the last's, in the zone."""
        zone = ZoneInfo(self.tz)
        first = datetime.combine(self.start, time(0), zone).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(0), zone).astimezone(UTC)
        return first, after


def period(tz: str, start: date | None, end: date | None, *, today: date | None = None) -> Period:
    """The period from `start` to `end` (days in `tz`, both included); by default the last
    30 days, today among them."""
    last = end or today or datetime.now(ZoneInfo(tz)).date()
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput("The “from” date must not be after the “to” date.")
    return Period(first, last, tz)


@dataclass(frozen=True)
class AccessEntry:
    id: int
    created_at: datetime
    who: str
    action: str
    event_slug: str | None
    event_title: str | None
    registration_id: int | None
    registration_name: str | None
    rows: int | None
    size: int | None
    sensitive: list[str]
    details: dict[str, Any]

    @property
    def what(self) -> str:
        return ACTIONS.get(self.action, self.action)


@dataclass(frozen=True)
class AccessLog:
    period: Period
    entries: list[AccessEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


_WHO = {AuditActor.COMMAND_LINE: "command line", AuditActor.PORTAL: "the portal (automatic)", AuditActor.PARTICIPANT: "the participant"}


def _count(value: Any) -> int | None:
    # The anonymiser may have replaced a logged value with "(removed)".
    return value if type(value) is int else None


def _entry(row: Any) -> AccessEntry:
    entry, name, email, slug, title, registration_name = row
    after = entry.after if isinstance(entry.after, dict) else {}
    if entry.action == REVEAL:
        sensitive = [str(after["question"])] if after.get("question") else []
        rows = None
    else:
        listed = after.get("sensitive")
        sensitive = [str(k) for k in listed] if isinstance(listed, list) else []
        rows = _count(after.get("rows"))
    return AccessEntry(
        entry.id, entry.created_at, (name or email) or _WHO.get(entry.actor, "an organiser"), entry.action, slug, title,
        entry.registration_id, registration_name, rows, _count(after.get("bytes")), sensitive,
        {k: v for k, v in after.items() if k not in ("rows", "bytes", "sensitive", "question")},
    )


def _query(period: Period) -> Any:
    first, after = period.bounds
    return (
        select(AuditEntry, Organiser.name, Organiser.email, Event.slug, Event.title, Registration.name)
        .outerjoin(Organiser, AuditEntry.organiser_id == Organiser.id)
        .outerjoin(Event, AuditEntry.event_id == Event.id)
        .outerjoin(Registration, AuditEntry.registration_id == Registration.id)
        .where(AuditEntry.action.in_(list(ACTIONS)), AuditEntry.created_at >= first, AuditEntry.created_at < after)
    )


def access_log(session: Session, period: Period, *, page: int = 1, per_page: int = PER_PAGE) -> AccessLog:
    """The exports and reveals in `period`, newest first, a page at a time."""
    if page < 1:
        raise InvalidInput("There is no such page of the log.")
    first, after = period.bounds
    total = session.scalar(
        select(func.count()).select_from(AuditEntry)
        .where(AuditEntry.action.in_(list(ACTIONS)), AuditEntry.created_at >= first, AuditEntry.created_at < after)
    ) or 0
    rows = session.execute(
        _query(period).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page)
    )
    return AccessLog(period, [_entry(r) for r in rows], total, page, per_page)


def access_log_csv(session: Session, period: Period) -> bytes:
    """The whole log of `period` as CSV, oldest first; times in the zone, named in the header."""
    zone = ZoneInfo(period.tz)
    rows = [[
        f"When ({period.tz})", "Who", "What", "Event", "Registration ID", "Registration", "Rows", "Bytes", "Sensitive questions", "Details",
    ]]
    for row in session.execute(_query(period).order_by(AuditEntry.created_at, AuditEntry.id)):
        e = _entry(row)
        rows.append([neutralise(v) for v in (
            e.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), e.who, e.what, e.event_slug or "",
            str(e.registration_id or ""), e.registration_name or "", "" if e.rows is None else str(e.rows),
            "" if e.size is None else str(e.size), " ".join(e.sensitive),
            "; ".join(f"{k}: {v}" for k, v in e.details.items()),
        )])
    return b"".join(csv_chunks(iter([rows])))

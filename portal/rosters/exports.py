"""The export of an event's roster: every field and every answer, as CSV or XLSX, read in one
pass and written as it is read, so that memory stays flat however long the roster.

At 100,000 registrations the export is bound by the work done per cell in Python, so this
module avoids the usual conveniences where they cost: rows come back as the driver's values
(no ORM objects, no per-value type conversion) and times are turned into local text from a
per-hour table instead of a datetime each. The workbook is written by openpyxl in write-only
mode, which keeps rows on disk rather than in memory.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Text, cast, func, select, true, type_coerce
from sqlalchemy.orm import Session

from portal.errors import InvalidInput
from portal.models import CheckIn, Registration, event_by_slug
from portal.questions.schema import CONDITION_TYPES, Question
from portal.questions.store import definition_for_event
from portal.registrations.checkins import event_days
from portal.registrations.endorsement import endorsement_words
from portal.rosters.answers import AnswerColumn, answer_columns, text_function
from portal.rosters.labels import earlier_labels
from portal.sealing import keyring_of

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Rows fetched from the database at a time (a server-side cursor on PostgreSQL).
BATCH = 2000

_TIME_COLUMNS = (
    ("Registered", Registration.created_at),
    ("Confirmed", Registration.confirmed_at),
    ("Waitlisted", Registration.waitlisted_at),
    ("Cancelled", Registration.cancelled_at),
    ("Checked in", Registration.checked_in_at),
    ("Consented", Registration.consented_at),
    ("Updated", Registration.updated_at),
)
# Read as text, without the ORM's per-value conversions, which cost more than everything else
# the export does; _LocalTimes and the JSON scanner do the converting. SQLite keeps these
# columns as text already (times as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, db.UTCDateTime);
# PostgreSQL is asked for the same text, so that both take the same per-hour path: psycopg
# would otherwise make an aware datetime of every time and a dict of every answer.
_COLUMNS = (
    Registration.id, Registration.name, Registration.email, Registration.organisation, Registration.status,
    *(c for _, c in _TIME_COLUMNS), Registration.answers,
)
_TIME_KEYS = {c.key for _, c in _TIME_COLUMNS}
_RAW = {"status", "answers", *_TIME_KEYS}
_SQLITE_COLUMNS = tuple(type_coerce(c, Text).label(c.key) if c.key in _RAW else c for c in _COLUMNS)
_POSTGRESQL_COLUMNS = tuple(
    func.to_char(func.timezone("UTC", c), "YYYY-MM-DD HH24:MI:SS.US").label(c.key) if c.key in _TIME_KEYS
    else cast(c, Text).label(c.key) if c.key in _RAW else c
    for c in _COLUMNS
)


# CSV: a cell a spreadsheet would run as a formula (OWASP: CSV injection) gets a leading
# apostrophe. A CSV cell has no type, so Excel and LibreOffice read "+65 6790 6982" or "-3+4"
# as a formula to run: the price is that a phone number kept in E.164 ("+6567906982") is
# written "'+6567906982", which a spreadsheet shows with the apostrophe. The XLSX export
# has no such price (below).
_FORMULA_START = frozenset("=+-@\t\r")
# XLSX: a string cell is text and is never run, whatever it starts with. Only openpyxl itself
# would make a formula, of a string that starts with "=": that alone gets the apostrophe.
_XLSX_FORMULA_START = frozenset("=")


def neutralise(value: str) -> str:
    return "'" + value if value[:1] in _FORMULA_START else value


def neutralise_xlsx(value: str) -> str:
    return "'" + value if value[:1] == "=" else value


ENDORSEMENT = "Endorsement"


def _base_header(tz: str, endorsement: bool = False) -> list[str]:
    return [
        "ID", "Name", "Email", "Organisation", "Status", *([ENDORSEMENT] if endorsement else []),
        *(f"{label} ({tz})" for label, _ in _TIME_COLUMNS),
    ]


@dataclass(frozen=True)
class ExportInfo:
    event_id: int
    slug: str
    timezone: str
    total: int
    # One per question that takes an answer (form order, retired last), then the keys that
    # answers hold but the form has not (older data), headed by their last known label.
    columns: list[AnswerColumn]
    # An Endorsement column after the status, as on the roster page: when the form has a
    # nominating officer's question, or a registration was asked to be endorsed.
    endorsement: bool = False
    # An event of several days: its days, a column each after the answers (the first
    # check-in's local time that day, or empty). One of one day has its Checked in column.
    days: tuple[date, ...] = ()
    # The sensitive questions whose answers the export holds, because they were asked for by
    # name; every other sensitive question is left out, column and all.
    sensitive: tuple[str, ...] = ()

    def filename(self, fmt: str) -> str:
        return f"roster-{self.slug}.{fmt}"

    @property
    def header(self) -> list[str]:
        return [
            *_base_header(self.timezone, self.endorsement), *(c.heading for c in self.columns),
            *(f"Attended {d:%a %-d %b %Y} ({self.timezone})" for d in self.days),
        ]


def _answer_keys(session: Session, event_id: int) -> list[str]:
    """Every key any registration of the event answered, read by the database's JSON functions."""
    if session.get_bind().dialect.name == "postgresql":
        keys = session.scalars(
            select(func.json_object_keys(Registration.answers)).where(Registration.event_id == event_id).distinct()
        )
    else:
        answer = func.json_each(Registration.answers).table_valued("key").alias("answer")
        keys = session.scalars(
            select(answer.c.key).select_from(Registration).join(answer, true())
            .where(Registration.event_id == event_id).distinct()
        )
    return sorted(k for k in keys if isinstance(k, str))


def sensitive_questions(session: Session, slug: str) -> list[Question]:
    """The event's sensitive questions, in form order: the ones an export may be asked to
    include (an upload as its file's name)."""
    definition = definition_for_event(session, event_by_slug(session, slug))
    return [q for q in definition.answer_questions() if q.sensitive]


def export_info(session: Session, slug: str, include: tuple[str, ...] | list[str] = ()) -> ExportInfo:
    """What an export of the event's roster will hold; NotFound before any byte is sent.
    Sensitive answers are left out but for the questions named in `include` (InvalidInput,
    naming the sensitive questions there are, for a key that is none of them)."""
    event = event_by_slug(session, slug)
    total = session.scalar(select(func.count()).select_from(Registration).where(Registration.event_id == event.id)) or 0
    definition = definition_for_event(session, event)
    endorsement = definition.nominator() is not None or session.scalar(
        select(Registration.id).where(Registration.event_id == event.id, Registration.endorsement.is_not(None)).limit(1)
    ) is not None
    keys = _answer_keys(session, event.id)
    gone = [k for k in keys if k not in definition.by_key()]
    sensitive = definition.sensitive_keys()
    unknown = sorted(set(include) - sensitive)
    if unknown:
        known = ", ".join(sorted(sensitive)) or "none"
        raise InvalidInput(f"{', '.join(unknown)}: not a sensitive question of this event's form (those it has: {known}).")
    included = tuple(k for k in dict.fromkeys(include))
    columns = answer_columns(definition, keys, _base_header(event.timezone, endorsement), earlier_labels(session, event, gone))
    # A sensitive column stays only when asked for, even if older answers sit among the plain
    # ones (a question made sensitive after people answered it).
    columns = [c for c in columns if c.key not in sensitive or c.key in included]
    days = event_days(event)
    return ExportInfo(
        event.id, event.slug, event.timezone, total, columns, endorsement, tuple(days) if len(days) > 1 else (),
        tuple(k for k in included if any(c.key == k for c in columns)),
    )


# --- times -----------------------------------------------------------------------------------

class _LocalTimes:
    """UTC times from the database, shown in one zone to the second: as 'YYYY-MM-DD HH:MM:SS'
    text (for CSV) or as a naive datetime (for XLSX).

    SQLite hands back its text, 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (db.UTCDateTime); that is
    turned into local text without making a datetime at all: the local form of each UTC hour
    is worked out once, and only the minutes and seconds are copied across. An hour whose offset
    is not whole hours, or that holds a change of offset, is worked out per minute instead.
    """

    def __init__(self, tz: str) -> None:
        self.zone = ZoneInfo(tz)
        # UTC 'YYYY-MM-DD HH' -> the local 'YYYY-MM-DD HH', for the hours that copy across;
        # UTC 'YYYY-MM-DD HH:MM' -> local, for the minutes of the hours that do not.
        self.text_hours: dict[str, str] = {}
        self.text_minutes: dict[str, str] = {}
        self.by_minute: set[str] = set()  # the hours that need their minutes

    def _local(self, utc: datetime) -> datetime:
        return utc.replace(tzinfo=UTC).astimezone(self.zone).replace(tzinfo=None)

    def _learn(self, value: str) -> None:
        """Fill the tables for the UTC hour (or, where needed, the minute) of `value`."""
        hour = value[:13]
        if hour not in self.by_minute:
            start = datetime.fromisoformat(hour + ":00")
            end = start + timedelta(minutes=59)
            offset = self._local(start) - start
            if offset % timedelta(hours=1) == timedelta(0) and self._local(end) - end == offset:
                self.text_hours[hour] = (start + offset).isoformat(" ")[:13]
                return
            self.by_minute.add(hour)
        minute = value[:16]
        self.text_minutes[minute] = self._local(datetime.fromisoformat(minute)).isoformat(" ")[:16]

    def as_text(self, value: datetime | str | None) -> str:
        try:
            found = self.text_hours.get(value[:13])  # type: ignore[index]
        except TypeError:  # None, or a datetime (the export reads text; callers may not)
            if value is None:
                return ""
            return self.as_datetime(value).isoformat(" ")  # type: ignore[union-attr]
        if found is not None:
            return found + value[13:19]  # type: ignore[index]
        found = self.text_minutes.get(value[:16])  # type: ignore[index]
        if found is not None:
            return found + value[16:19]  # type: ignore[index]
        self._learn(value)  # type: ignore[arg-type]
        return self.as_text(value)

    def as_datetime(self, value: datetime | str | None) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(self.as_text(value))
        return self._local(value.astimezone(UTC).replace(tzinfo=None, microsecond=0))


# --- rows ------------------------------------------------------------------------------------


def _raw_batches(session: Session, info: ExportInfo, progress: Callable[[int], None] | None) -> Iterator[list[Row[Any]]]:
    """The event's registrations in id order, BATCH rows at a time, from one query: a snapshot
    (the caller's transaction) whose rows are streamed, not loaded at once."""
    columns = _POSTGRESQL_COLUMNS if session.get_bind().dialect.name == "postgresql" else _SQLITE_COLUMNS
    if info.endorsement:
        # As the model gives them (few events have them): the Endorsement and an aware time.
        columns = (*columns, Registration.endorsement, Registration.endorsement_at)
    if info.sensitive:
        columns = (*columns, Registration.sealed_answers)
    result = session.connection().execute(
        select(*columns).where(Registration.event_id == info.event_id).order_by(Registration.id)
        .execution_options(yield_per=BATCH)
    )
    done = 0
    for batch in result.partitions():
        yield batch
        done += len(batch)
        if progress is not None:
            progress(done)


def _cell_function(question: Question | None, typed: bool) -> Callable[[Any], Any]:
    """answer -> its cell: text, neutralised for the format; with `typed` (XLSX) a number
    answer as a number and a date answer as a date, so that a spreadsheet sorts and sums them."""
    say = text_function(question)
    safe = neutralise_xlsx if typed else neutralise
    kind = question.type if question is not None else None

    def cell(value: Any) -> Any:
        if kind == "number" and type(value) in (int, float):
            # A number as the form kept it: a cell of digits (a minus sign at most) is no formula.
            return value if typed else str(value)
        if typed and kind == "date" and type(value) is str:
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        return safe(say(value))

    return cell


def roster_rows(
    session: Session, info: ExportInfo, progress: Callable[[int], None] | None = None, *, times: str = "datetime"
) -> Iterator[list[list[Any]]]:
    """The header, then the registrations a batch at a time: one list of cells each, in
    registration order. As `times` says, for CSV ("text": every cell is text, times in the
    event's zone, text a spreadsheet would run as a formula neutralised) or for XLSX
    ("datetime": times as naive local datetimes, number and date answers as numbers and dates,
    only text that openpyxl would make a formula neutralised)."""
    local = _LocalTimes(info.timezone)
    when = {"text": local.as_text, "datetime": local.as_datetime}[times]
    text = times == "text"
    empty = "" if text else None
    keys = [c.key for c in info.columns]
    # A question's answers as cells (choices by label, picks joined by "; "); the usual text
    # answer takes the fast path below without a call.
    cells = [_cell_function(c.question, not text) for c in info.columns]
    slow = CONDITION_TYPES if text else (*CONDITION_TYPES, "date")
    fast = [c.question is None or c.question.type not in slow for c in info.columns]
    # The decoder's scanner without json.loads's checks around it (two regular expressions a
    # call): the text is what SQLAlchemy's JSON type wrote.
    scan = json.JSONDecoder().scan_once
    formula = _FORMULA_START if text else _XLSX_FORMULA_START
    safe = neutralise if text else neutralise_xlsx
    endorsed = info.endorsement
    keyring = keyring_of(session) if info.sensitive else None
    yield [[safe(h) for h in info.header]]
    for batch in _raw_batches(session, info, progress):
        rows = []
        for raw in batch:
            rid, name, email, organisation, status, t1, t2, t3, t4, t5, t6, t7, answers = raw[:13] if endorsed or keyring else raw
            if type(answers) is str:
                try:
                    answers = scan(answers, 0)[0]
                except StopIteration:
                    answers = json.loads(answers)  # to raise the decoder's own error
            if type(answers) is not dict:
                answers = {}
            if keyring is not None and raw[-1]:
                # Only the sealed answers asked for by name; the rest stay sealed.
                opened = keyring.open_json(raw[-1])
                answers = {**answers, **{k: opened[k] for k in info.sensitive if k in opened}}
            # Registered (t1), consented (t6) and last updated (t7) are set on every row, and
            # are often one instant with confirmed (t2) or waitlisted (t3): the registration
            # and its first answer. Such a time is converted once.
            registered = when(t1)
            rows.append([
                str(rid) if text else rid,
                "'" + name if name[:1] in formula else name,
                "'" + email if email[:1] in formula else email,
                "'" + organisation if organisation[:1] in formula else organisation,
                status,
                registered,
                empty if t2 is None else registered if t2 == t1 else when(t2),
                empty if t3 is None else registered if t3 == t1 else when(t3),
                empty if t4 is None else when(t4),
                empty if t5 is None else when(t5),
                registered if t6 == t1 else when(t6),
                registered if t7 == t1 else when(t7),
                *[
                    v if quick and type(v) is str and v[:1] not in formula else cell(v)
                    for v, quick, cell in zip(map(answers.get, keys), fast, cells, strict=True)
                ],
            ])
            if endorsed:
                rows[-1].insert(5, endorsement_words(raw[13], raw[14], info.timezone))
        if info.days:
            for row, attended in zip(rows, _day_cells(session, info, batch, local, text), strict=True):
                row.extend(attended)
        yield rows


def _day_cells(session: Session, info: ExportInfo, batch: list[Row[Any]], local: _LocalTimes, text: bool) -> Iterator[list[Any]]:
    """For each row of a batch (in id order), a cell per event day: the local time of the
    first check-in that day ("09:02" for CSV, a time for XLSX), or empty. One query a batch,
    over the batch's range of ids. A registration with a checked_in_at and no check-in rows
    (set by hand) counts for that time's day, as on the roster page."""
    came: dict[int, dict[date, datetime]] = {}
    for registration_id, day, at in session.execute(
        select(CheckIn.registration_id, CheckIn.day, func.min(CheckIn.at))
        .where(CheckIn.event_id == info.event_id, CheckIn.registration_id.between(batch[0][0], batch[-1][0]))
        .group_by(CheckIn.registration_id, CheckIn.day)
    ):
        came.setdefault(registration_id, {})[day] = at
    zone, first, last = local.zone, info.days[0], info.days[-1]
    empty = "" if text else None
    for raw in batch:
        days = came.get(raw[0])
        if days is None:
            checked_in = raw[9]  # the Checked in column (t5)
            if checked_in is None:
                yield [empty] * len(info.days)
                continue
            moment = local.as_datetime(checked_in)
            assert moment is not None
            days = {min(max(moment.date(), first), last): moment.replace(tzinfo=zone)}
        cells = []
        for day in info.days:
            at = days.get(day)
            if at is None:
                cells.append(empty)
            else:
                there = at.astimezone(zone)
                cells.append(f"{there:%H:%M}" if text else time(there.hour, there.minute))
        yield cells


# --- CSV -------------------------------------------------------------------------------------


def _csv_line(row: list[str], writer: Any, buffer: io.StringIO) -> str:
    """One row as a CSV line without its line break: the fields joined by commas when none
    needs quoting (the same text csv.writer writes then), else what csv.writer writes.
    csv.writer costs about five times as much per row, so it is kept for the rows that need it."""
    line = ",".join(row)
    if '"' not in line and "\n" not in line and "\r" not in line and line.count(",") == len(row) - 1:
        return line
    writer.writerow(row)
    line = buffer.getvalue()[:-2]
    buffer.seek(0)
    buffer.truncate()
    return line


def csv_chunks(batches: Iterator[list[list[Any]]]) -> Iterator[bytes]:
    """CSV in UTF-8 with a byte-order mark (so Excel reads the names right), a chunk a batch.
    Every cell must be text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield "\ufeff".encode()
    for rows in batches:
        lines = [_csv_line(row, writer, buffer) for row in rows]
        lines.append("")
        yield "\r\n".join(lines).encode("utf-8")


# --- XLSX ------------------------------------------------------------------------------------


# Control characters cannot be stored in a workbook's XML at all (openpyxl refuses the same
# set, ILLEGAL_CHARACTERS_RE, rather than dropping them).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xlsx_cell(value: Any) -> Any:
    if type(value) is str and _ILLEGAL.search(value):
        # Stripping may bring a "=" to the front: neutralise again after.
        return neutralise_xlsx(_ILLEGAL.sub("", value))
    return value


def xlsx_chunks(batches: Iterator[list[list[Any]]], chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """An XLSX workbook of one sheet, written with openpyxl in write-only mode (rows go to a
    temporary file, not memory; the zip's directory comes last), then sent in chunks. Times
    must come as naive datetimes: openpyxl stores them as dates with a date format."""
    # Imported here, not at the top: openpyxl takes a quarter of a second to import, and the
    # CSV export and the `portal` command's start should not pay for it.
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Roster")
    for rows in batches:
        for row in rows:
            sheet.append([_xlsx_cell(value) for value in row])
    with tempfile.TemporaryFile() as handle:
        workbook.save(handle)
        handle.seek(0)
        while chunk := handle.read(chunk_size):
            yield chunk


def export_chunks(session: Session, info: ExportInfo, fmt: str, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The roster as CSV or XLSX bytes, produced as they are read."""
    if fmt == "csv":
        return csv_chunks(roster_rows(session, info, progress, times="text"))
    if fmt == "xlsx":
        return xlsx_chunks(roster_rows(session, info, progress, times="datetime"))
    raise InvalidInput("Export as csv or xlsx.")

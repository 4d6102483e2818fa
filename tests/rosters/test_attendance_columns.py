"""The export's attendance: an event of several days has a column per day, after the others,
holding the local time of the first check-in that day; read in batches without a query per
row; an event of one day keeps its Checked in column alone."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import event as sa_event

from portal import cli
from portal.models import RegistrationStatus
from portal.registrations.actions import RosterAction as A
from portal.registrations.actions import act_on_registration
from portal.rosters import exports

SGT = ZoneInfo("Asia/Singapore")
DAYS = [f"Attended {d} (Asia/Singapore)" for d in ("Mon 8 Mar 2027", "Tue 9 Mar 2027", "Wed 10 Mar 2027")]


def sgt(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=SGT)


@pytest.fixture
def actor(make_organiser):  # type: ignore[no-untyped-def]
    return make_organiser("dora@example.org", name="Dora Door")


@pytest.fixture
def course(run, site, actor, make_event, make_registration):  # type: ignore[no-untyped-def]
    """Three days; Ana came Monday and Wednesday (twice on Monday), Ben on Tuesday only (at
    23:30 UTC on Monday, 07:30 Tuesday in Singapore), Cai never, Dee was set by hand."""
    event = make_event(slug="tatc-2027-03", starts_at=sgt(8, 9), ends_at=sgt(10, 17), capacity=None)
    ana = make_registration(event, name="Ana", answers={"rank": "Major"})
    ben = make_registration(event, name="Ben")
    make_registration(event, name="Cai", status=RegistrationStatus.WAITLISTED)
    make_registration(event, name="Dee", checked_in_at=sgt(9, 10, 15))
    run(act_on_registration, site, actor, ana.id, A.CHECK_IN, now=sgt(8, 8, 52))
    run(act_on_registration, site, actor, ben.id, A.CHECK_IN, now=datetime(2027, 3, 8, 23, 30, tzinfo=ZoneInfo("UTC")))
    run(act_on_registration, site, actor, ana.id, A.CHECK_IN, now=sgt(10, 9, 5))
    return event


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def read_xlsx(content: bytes) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    try:
        rows = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()
    # A read-only sheet leaves out a row's empty cells at its end.
    return [row + [None] * (len(rows[0]) - len(row)) for row in rows]


def by_name(rows: list[list[object]]) -> dict[object, dict[object, object]]:
    return {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def test_the_csv_has_a_column_per_day_after_the_others(organiser_client, course):
    rows = read_csv(organiser_client.get(f"/admin/events/{course.slug}/export.csv").content)
    header = rows[0]
    assert header[-3:] == DAYS and header[-4] == "Rank (no longer asked)"
    people = by_name(rows)
    assert [people["Ana"][d] for d in DAYS] == ["08:52", "", "09:05"]
    assert [people["Ben"][d] for d in DAYS] == ["", "07:30", ""]
    assert [people["Cai"][d] for d in DAYS] == ["", "", ""]
    assert [people["Dee"][d] for d in DAYS] == ["", "10:15", ""]
    assert people["Ana"]["Checked in (Asia/Singapore)"] == "2027-03-08 08:52:00"


def test_the_xlsx_has_the_same_columns_with_times(organiser_client, course):
    rows = read_xlsx(organiser_client.get(f"/admin/events/{course.slug}/export.xlsx").content)
    assert rows[0][-3:] == DAYS
    people = by_name(rows)
    assert [people["Ana"][d] for d in DAYS] == [time(8, 52), None, time(9, 5)]
    assert [people["Ben"][d] for d in DAYS] == [None, time(7, 30), None]
    assert [people["Cai"][d] for d in DAYS] == [None, None, None]
    as_csv = read_csv(organiser_client.get(f"/admin/events/{course.slug}/export.csv").content)
    assert [str(h) for h in rows[0]] == as_csv[0]


def test_the_command_line_writes_the_same_columns(organiser_client, course, portal_env):
    assert cli.main(["export", "roster", course.slug, "-o", "out.csv"]) == 0
    assert (portal_env / "out.csv").read_bytes() == organiser_client.get(f"/admin/events/{course.slug}/export.csv").content


def test_batches_read_attendance_once_each_not_once_a_row(run, course, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 2)
    info = run(exports.export_info, course.slug)
    statements: list[str] = []

    def read(session):  # type: ignore[no-untyped-def]
        def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            if "check_ins" in statement:
                statements.append(statement)
        sa_event.listen(session.connection(), "before_cursor_execute", seen)
        return list(exports.roster_rows(session, info, times="text"))

    batches = run(read)
    assert [len(b) for b in batches] == [1, 2, 2]
    assert len(statements) == 2  # one per batch of rows
    cells = {row[1]: row[-3:] for batch in batches[1:] for row in batch}
    assert cells == {"Ana": ["08:52", "", "09:05"], "Ben": ["", "07:30", ""], "Cai": ["", "", ""], "Dee": ["", "10:15", ""]}


def test_an_event_of_one_day_has_no_day_columns(organiser_client, run, site, actor, make_event, make_registration):
    seminar = make_event(starts_at=sgt(8, 14), ends_at=sgt(8, 16))
    person = make_registration(seminar, name="Ana")
    run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(8, 14, 2))
    rows = read_csv(organiser_client.get(f"/admin/events/{seminar.slug}/export.csv").content)
    assert not any(h.startswith("Attended") for h in rows[0])
    assert by_name(rows)["Ana"]["Checked in (Asia/Singapore)"] == "2027-03-08 14:02:00"

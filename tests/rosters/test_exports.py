"""The roster export: CSV and XLSX, every field and answer, formulas neutralised, the same
from the page and from `portal export roster`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from portal import cli
from portal.models import RegistrationStatus
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from portal.rosters import exports
from portal.rosters.exports import _LocalTimes

SGT = ZoneInfo("Asia/Singapore")
REGISTERED = datetime(2026, 11, 2, 1, 30, tzinfo=ZoneInfo("UTC"))
DANGEROUS = ['=HYPERLINK("http://evil.example","click")', "+1+2", "-3+4", "@SUM(A1)", "\tTab", "\rReturn"]


@pytest.fixture
def roster(make_programme, make_event, make_registration):  # type: ignore[no-untyped-def]
    programme = make_programme(code="appsmo")
    event = make_event(slug="appsmo-2027", programme_id=programme.id, timezone="Asia/Singapore")
    people = [
        make_registration(event, name="Aisha Rahman", email="aisha@example.org", organisation="Ministry of Defence",
                          answers={"rank": "Colonel", "service": "Army", "country": "Malaysia"}, created_at=REGISTERED),
        make_registration(event, name=DANGEROUS[0], email="mallory@example.org", organisation=DANGEROUS[1],
                          answers={"rank": DANGEROUS[2], "nominating_authority": DANGEROUS[3], "statement": "Line one\nLine two"},
                          status=RegistrationStatus.WAITLISTED, created_at=REGISTERED + timedelta(hours=1)),
        make_registration(event, name="Nguyễn Văn Minh", email="minh@example.org", organisation=DANGEROUS[4],
                          answers={"country": DANGEROUS[5]}, created_at=REGISTERED + timedelta(hours=2),
                          checked_in_at=REGISTERED + timedelta(days=1)),
    ]
    return event, people


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for Excel
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def read_xlsx(content: bytes) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    try:
        return [list(row) for row in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()


# The answers' keys are on no form of this event: each is headed by its last known label (here
# the label the portal asked it under before forms, rosters.labels.LEGACY), marked so.
H = {
    "country": "Country (no longer asked)", "nominating_authority": "Nominating authority (no longer asked)",
    "rank": "Rank (no longer asked)", "service": "Service or agency (no longer asked)",
    "statement": "Statement of purpose (no longer asked)",
}
ANSWERS = list(H.values())


def test_csv_has_every_field_and_answer_and_no_formulas(organiser_client, roster):
    event, people = roster
    response = organiser_client.get(f"/admin/events/{event.slug}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="roster-appsmo-2027.csv"'
    rows = read_csv(response.content)
    header = rows[0]
    assert header[:5] == ["ID", "Name", "Email", "Organisation", "Status"]
    assert "Registered (Asia/Singapore)" in header and "Checked in (Asia/Singapore)" in header
    assert header[-len(ANSWERS):] == ANSWERS
    by_email = {row[2]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert len(by_email) == 3
    aisha = by_email["aisha@example.org"]
    assert (aisha["Name"], aisha["Status"], aisha[H["rank"]], aisha[H["service"]], aisha[H["statement"]]) == ("Aisha Rahman", "confirmed", "Colonel", "Army", "")
    assert aisha["Registered (Asia/Singapore)"] == "2026-11-02 09:30:00"  # in the event's zone
    mallory = by_email["mallory@example.org"]
    assert mallory["Name"] == "'" + DANGEROUS[0]
    assert (mallory["Organisation"], mallory[H["rank"]], mallory[H["nominating_authority"]]) == ("'+1+2", "'-3+4", "'@SUM(A1)")
    assert mallory[H["statement"]] == "Line one\nLine two"
    minh = by_email["minh@example.org"]
    assert minh["Name"] == "Nguyễn Văn Minh"
    assert (minh["Organisation"], minh[H["country"]]) == ("'\tTab", "'\rReturn")
    assert minh["Checked in (Asia/Singapore)"] == "2026-11-03 09:30:00"


def test_xlsx_has_the_same_content(organiser_client, roster):
    event, people = roster
    response = organiser_client.get(f"/admin/events/{event.slug}/export.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    rows = read_xlsx(response.content)
    header = rows[0]
    assert header[-len(ANSWERS):] == ANSWERS
    as_csv = read_csv(organiser_client.get(f"/admin/events/{event.slug}/export.csv").content)
    assert [str(h) for h in header] == as_csv[0]
    by_email = {row[2]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    mallory = by_email["mallory@example.org"]
    # A string cell is text in a workbook, never run: only what openpyxl would itself make a
    # formula (a string starting with "=") keeps the apostrophe; the rest is as typed.
    assert mallory["Name"] == "'" + DANGEROUS[0]
    assert (mallory["Organisation"], mallory[H["rank"]], mallory[H["nominating_authority"]]) == ("+1+2", "-3+4", "@SUM(A1)")
    assert by_email["minh@example.org"]["Organisation"] == "\tTab"
    assert by_email["aisha@example.org"]["ID"] == people[0].id
    assert by_email["aisha@example.org"]["Registered (Asia/Singapore)"] == datetime(2026, 11, 2, 9, 30)
    workbook = load_workbook(io.BytesIO(response.content))
    assert all(cell.data_type != "f" for row in workbook.active.iter_rows() for cell in row)
    for row, csv_row in zip(rows[1:], as_csv[1:], strict=True):
        shown = ["" if v is None else (v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else str(v)) for v in row]
        # The CSV's cells are the same but for its apostrophes (a CSV cell starting with a
        # carriage return gets one; XML reads that carriage return back as a line feed).
        assert [exports.neutralise(v.replace("\n", "\r") if v.startswith("\n") else v) for v in shown] == [
            c if c.startswith("'\r") else c.replace("\r", "\n") for c in csv_row
        ]


def test_an_empty_roster_exports_a_header(organiser_client, make_event):
    event = make_event()
    rows = read_csv(organiser_client.get(f"/admin/events/{event.slug}/export.csv").content)
    assert len(rows) == 1 and rows[0][0] == "ID"
    assert len(read_xlsx(organiser_client.get(f"/admin/events/{event.slug}/export.xlsx").content)) == 1


def test_export_errors(organiser_client, client, roster):
    event, _ = roster
    assert organiser_client.get(f"/admin/events/{event.slug}/export.pdf").status_code == 404
    assert organiser_client.get("/admin/events/no-such-event/export.csv").status_code == 404


def test_the_command_line_writes_the_same_file(organiser_client, roster, portal_env, capsys):
    event, _ = roster
    web_csv = organiser_client.get(f"/admin/events/{event.slug}/export.csv").content
    assert cli.main(["export", "roster", event.slug]) == 0
    assert (portal_env / "roster-appsmo-2027.csv").read_bytes() == web_csv
    assert "wrote 3 registrations" in capsys.readouterr().err
    assert cli.main(["export", "roster", event.slug, "--format", "xlsx", "-o", "out.xlsx"]) == 0
    web_xlsx = organiser_client.get(f"/admin/events/{event.slug}/export.xlsx").content
    assert read_xlsx((portal_env / "out.xlsx").read_bytes()) == read_xlsx(web_xlsx)


def test_the_command_line_names_a_missing_event(portal_env, capsys):
    assert cli.main(["export", "roster", "no-such-event", "-o", "x.csv"]) == 2
    assert "no-such-event" in capsys.readouterr().err
    assert not (portal_env / "x.csv").exists()


def test_the_export_reads_in_batches(run, roster, monkeypatch):
    event, people = roster
    monkeypatch.setattr(exports, "BATCH", 2)
    seen = []
    info = run(exports.export_info, event.slug)
    batches = run(lambda session: list(exports.roster_rows(session, info, seen.append)))
    assert [len(b) for b in batches] == [1, 2, 1]  # the header, then the rows
    assert [r[0] for b in batches[1:] for r in b] == [p.id for p in people]
    assert seen == [2, 3]


def test_the_command_line_offers_every_export_format():
    assert sorted(cli.EXPORT_FORMATS) == sorted(exports.FORMATS)


def _moments_to_check(tz: str) -> list[datetime]:
    """Every 317 minutes for 300 days, and every minute of the hours around each change of
    offset (some zones change at half past a UTC hour)."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    moments = [start + timedelta(minutes=m, seconds=m % 60) for m in range(0, 60 * 24 * 300, 317)]
    zone = ZoneInfo(tz)
    for hours in range(24 * 300):
        hour = start + timedelta(hours=hours)
        if hour.astimezone(zone).utcoffset() != (hour + timedelta(hours=1)).astimezone(zone).utcoffset():
            moments += [hour + timedelta(minutes=m, seconds=17) for m in range(-60, 120)]
    return moments


@pytest.mark.parametrize(
    "tz", ["Asia/Singapore", "Asia/Kolkata", "Asia/Kathmandu", "Europe/London", "America/New_York", "America/St_Johns", "Australia/Lord_Howe"]
)
def test_export_times_are_exact_in_every_zone(tz):
    local = _LocalTimes(tz)
    for moment in _moments_to_check(tz):
        expected = moment.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        as_sqlite = moment.replace(tzinfo=None).isoformat(" ", "microseconds")
        assert local.as_text(as_sqlite) == expected.isoformat(" "), moment
        assert local.as_datetime(as_sqlite) == expected
        assert local.as_datetime(moment) == expected


def test_csv_lines_are_what_the_csv_module_writes():
    rows = [
        ["1", "plain", "", " spaced ", "tab\there"],
        ["2", "a,comma", 'a "quote"', "line\nbreak", "carriage\rreturn"],
        ["3", '"', ",", "\r\n", "é ü 中文"],
        ["4", "", "", "", ""],
    ]
    expected = io.StringIO()
    expected.write("\ufeff")
    csv.writer(expected, lineterminator="\r\n").writerows(rows)
    assert b"".join(exports.csv_chunks(iter([rows[:1], rows[1:]]))) == expected.getvalue().encode("utf-8")


TYPED_FORM = [
    {"key": "guests", "type": "number", "label": "Guests"},
    {"key": "weight", "type": "number", "label": "Weight", "decimal": True},
    {"key": "arrival", "type": "date", "label": "Arrival"},
    {"key": "mobile", "type": "phone", "label": "Mobile"},
    {"key": "motto", "type": "text", "label": "Motto"},
]


@pytest.fixture
def typed_roster(make_programme, make_event, make_registration, run):  # type: ignore[no-untyped-def]
    programme = make_programme(code="iccs")
    run(save_form, None, Owner(programme_id=programme.id), parse_form(TYPED_FORM))
    event = make_event(slug="iccs-2027", programme_id=programme.id)
    make_registration(event, name="Ann Lee", answers={
        "guests": -2, "weight": 72.5, "arrival": "2027-03-01", "mobile": "+6567906982", "motto": "=1+1",
    })
    make_registration(event, name="Ben Tan", answers={"guests": "3 or 4", "arrival": "soon", "motto": "-1+2"})  # older, untyped data
    return event


def test_xlsx_cells_have_their_types(organiser_client, typed_roster):
    content = organiser_client.get(f"/admin/events/{typed_roster.slug}/export.xlsx").content
    sheet = load_workbook(io.BytesIO(content)).active
    header = [c.value for c in next(sheet.iter_rows())]
    rows = {row[1].value: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)}
    ann = rows["Ann Lee"]
    # A number answer is a number, a date answer a date: a spreadsheet sorts and sums them.
    assert (ann["Guests"].value, ann["Guests"].data_type) == (-2, "n")
    assert (ann["Weight"].value, ann["Weight"].data_type) == (72.5, "n")
    assert ann["Arrival"].is_date and ann["Arrival"].value == datetime(2027, 3, 1)
    # A phone number is text as the form kept it (E.164), without an apostrophe.
    assert (ann["Mobile"].value, ann["Mobile"].data_type) == ("+6567906982", "s")
    # Text that openpyxl would make a formula keeps the apostrophe; no cell is a formula.
    assert (ann["Motto"].value, ann["Motto"].data_type) == ("'=1+1", "s")
    ben = rows["Ben Tan"]
    assert (ben["Guests"].value, ben["Arrival"].value, ben["Motto"].value) == ("3 or 4", "soon", "-1+2")
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_csv_neutralises_text_but_not_numbers(organiser_client, typed_roster):
    rows = read_csv(organiser_client.get(f"/admin/events/{typed_roster.slug}/export.csv").content)
    header = rows[0]
    by_name = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    ann = by_name["Ann Lee"]
    # A number answer is digits and a sign at most: no formula, so no apostrophe.
    assert (ann["Guests"], ann["Weight"], ann["Arrival"]) == ("-2", "72.5", "2027-03-01")
    # A CSV cell has no type: a phone in E.164 starting with + is neutralised like a formula.
    assert (ann["Mobile"], ann["Motto"]) == ("'+6567906982", "'=1+1")
    assert (by_name["Ben Tan"]["Guests"], by_name["Ben Tan"]["Motto"]) == ("3 or 4", "'-1+2")

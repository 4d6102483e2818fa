"""The door's scanner, as a service: what each code gets, what is recorded, and how a door's
offline scans are counted when they arrive (once each; both doors' kept; the earliest wins)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.models import AuditEntry, CheckIn, EventStatus, Registration
from portal.models import RegistrationStatus as S
from portal.registrations import scans
from portal.registrations.scans import DoorScan, Outcome
from portal.rosters.scanner import check_ins_of, door_tickets

# A three-day course in Singapore: Mon 8 to Wed 10 March 2027, 09:00-17:00 (UTC+8).
STARTS = datetime(2027, 3, 8, 1, 0, tzinfo=timezone.utc)
ENDS = datetime(2027, 3, 10, 9, 0, tzinfo=timezone.utc)
MONDAY_9 = datetime(2027, 3, 8, 1, 2, tzinfo=timezone.utc)  # 09:02 in Singapore
CODE = "7K3QX2M49D"


@pytest.fixture
def organiser(make_organiser):  # type: ignore[no-untyped-def]
    return make_organiser("door@example.org", name="Dora Door")


@pytest.fixture
def course(make_event):  # type: ignore[no-untyped-def]
    return make_event(title="Terrorism Analyst Training Course", starts_at=STARTS, ends_at=ENDS)


@pytest.fixture
def ticket(course, make_registration):  # type: ignore[no-untyped-def]
    return make_registration(course, name="Aisha Rahman", organisation="Ministry of Defence", checkin_code=CODE)


def rows(sessions, model=CheckIn):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def scan(run, actor, event, code, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("now", MONDAY_9)
    return run(scans.scan, actor, event.slug, code_or_payload=code, **kwargs)


def test_a_good_ticket_checks_its_holder_in_and_is_audited(run, sessions, organiser, course, ticket):
    result = scan(run, organiser, course, "PTK1:" + CODE, scan_id="scan-0001", door="North door")
    assert result.outcome == Outcome.ADMITTED and result.tone == "admitted"
    assert (result.name, result.organisation, result.code) == ("Aisha Rahman", "Ministry of Defence", "7K3QX-2M49D")
    assert result.detail == "Day 1 of 3, Mon 8 Mar."
    with sessions() as session:
        row = session.scalars(select(CheckIn)).one()
        assert (row.registration_id, row.day.isoformat(), row.door, row.scan_id, row.organiser_id) == (
            ticket.id, "2027-03-08", "North door", "scan-0001", organiser.id)
        assert session.get_one(Registration, ticket.id).checked_in_at == MONDAY_9
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.check_in")).one()
        assert entry.registration_id == ticket.id and entry.organiser_id == organiser.id
        assert entry.after["door"] == "North door" and entry.after["day"] == "2027-03-08"


@pytest.mark.parametrize("typed", ["7k3qx-2m49d", " 7K3QX 2M49D ", "7K3QX-2M49D", "ptk1:7K3QX2M49D"])
def test_a_code_is_read_as_people_type_it(run, organiser, course, ticket, typed):
    assert scan(run, organiser, course, typed).outcome == Outcome.ADMITTED


def test_a_second_scan_the_same_day_says_when_where_and_by_whom_and_records_nothing(run, sessions, organiser, make_organiser, course, ticket):
    scan(run, organiser, course, CODE, door="North door")
    other = make_organiser("second@example.org", name="Sam Second")
    again = scan(run, other, course, CODE, door="South door", now=MONDAY_9 + timedelta(minutes=20))
    assert again.outcome == Outcome.ALREADY and again.tone == "already"
    assert again.detail == "Checked in at 09:02 (Asia/Singapore, UTC+08), North door, by Dora Door."
    assert again.first_at == MONDAY_9 and again.name == "Aisha Rahman"
    assert rows(sessions) == 1
    # The next day is another day: in again.
    tuesday = scan(run, other, course, CODE, door="South door", now=MONDAY_9 + timedelta(days=1))
    assert tuesday.outcome == Outcome.ADMITTED and tuesday.detail == "Day 2 of 3, Tue 9 Mar."
    assert rows(sessions) == 2


@pytest.mark.parametrize(("status", "words"), [
    (S.WAITLISTED, "on the waiting list"), (S.PENDING, "pending approval"), (S.CANCELLED, "cancelled"), (S.REJECTED, "rejected"),
])
def test_a_registration_that_is_not_confirmed_is_refused_and_says_which(run, sessions, organiser, course, make_registration, status, words):
    make_registration(course, name="Budi Santoso", status=status, checkin_code=CODE)
    before = rows(sessions, AuditEntry)
    result = scan(run, organiser, course, CODE, scan_id="scan-0002")
    assert result.outcome == Outcome.NOT_CONFIRMED and result.tone == "refused"
    assert result.headline == f"Not confirmed: {words}" and result.name == "Budi Santoso"
    assert rows(sessions) == 0 and rows(sessions, AuditEntry) == before


def test_another_events_ticket_is_refused_naming_the_event_and_recorded_nowhere(run, sessions, organiser, course, make_event, make_registration):
    seminar = make_event(title="Maritime Security Seminar", starts_at=STARTS, ends_at=STARTS + timedelta(hours=2))
    make_registration(seminar, name="Chen Wei", checkin_code=CODE)
    before = rows(sessions, AuditEntry)
    result = scan(run, organiser, course, CODE, scan_id="scan-0003")
    assert result.outcome == Outcome.OTHER_EVENT
    assert "Maritime Security Seminar" in result.detail and result.name == "Chen Wei"
    assert rows(sessions) == 0 and rows(sessions, AuditEntry) == before


@pytest.mark.parametrize(("code", "headline"), [
    ("ZZZZZZZZZZ", "Unknown code"),  # well formed, but no ticket has it (forged, or mistyped)
    ("7K3QX2M49", "Not a ticket"),  # a character short
    ("PTK1:7K3QX2M49DU", "Not a ticket"),  # not a code of the alphabet
    ("https://example.org/", "Not a ticket"),
    ("", "Not a ticket"),
])
def test_forged_and_mistyped_codes_are_refused_with_the_reason_and_recorded_nowhere(run, sessions, organiser, course, ticket, code, headline):
    before = rows(sessions, AuditEntry)
    result = scan(run, organiser, course, code, scan_id="scan-0004")
    assert result.outcome == Outcome.UNKNOWN and result.headline == headline and result.detail
    assert rows(sessions) == 0 and rows(sessions, AuditEntry) == before


def test_a_scan_sent_twice_counts_once(run, sessions, organiser, course, ticket):
    before = rows(sessions, AuditEntry)
    first = scan(run, organiser, course, CODE, scan_id="scan-0005", door="North door")
    second = scan(run, organiser, course, CODE, scan_id="scan-0005", door="North door", now=MONDAY_9 + timedelta(minutes=1))
    assert first.outcome == second.outcome == Outcome.ADMITTED
    assert second.resent and not first.resent
    assert rows(sessions) == 1
    assert rows(sessions, AuditEntry) == before + 1


def test_a_scan_id_sent_again_with_another_ticket_is_refused(run, sessions, organiser, course, ticket, make_registration):
    make_registration(course, name="Dewi Lestari", checkin_code="ABCDE12345")
    scan(run, organiser, course, CODE, scan_id="scan-0006")
    result = scan(run, organiser, course, "ABCDE12345", scan_id="scan-0006")
    assert result.outcome == Outcome.INVALID
    assert rows(sessions) == 1


def test_two_doors_offline_are_both_recorded_and_the_earliest_wins(run, sessions, organiser, course, ticket):
    """Door B's scan (09:05) arrives first, door A's (09:00) later: both rows are kept, the
    check-in is A's, and the registration's page lists both."""
    at_a, at_b = MONDAY_9 - timedelta(minutes=2), MONDAY_9 + timedelta(minutes=3)
    later = MONDAY_9 + timedelta(hours=1)
    b = run(scans.sync, organiser, course.slug, [DoorScan("scan-b-01", "PTK1:" + CODE, at_b, "Door B")], now=later)
    a = run(scans.sync, organiser, course.slug, [DoorScan("scan-a-01", "PTK1:" + CODE, at_a, "Door A")], now=later)
    assert [r.outcome for r in b + a] == [Outcome.ADMITTED, Outcome.ADMITTED]
    assert rows(sessions) == 2
    # A third door's, later still: kept as well, and answered "already" (Door A's is the check-in).
    c = run(scans.sync, organiser, course.slug, [DoorScan("scan-c-01", CODE, at_b + timedelta(minutes=1), "Door C")], now=later)
    assert c[0].outcome == Outcome.ALREADY and c[0].recorded and c[0].first_door == "Door A"
    assert rows(sessions) == 3
    with sessions() as session:
        assert session.get_one(Registration, ticket.id).checked_in_at == at_a
        log = check_ins_of(session, ticket.id)
    assert [(e.door, e.at, e.first, e.by) for e in log] == [
        ("Door A", at_a, True, "Dora Door"), ("Door B", at_b, False, "Dora Door"), ("Door C", at_b + timedelta(minutes=1), False, "Dora Door"),
    ]
    # Door B sends its scan again (it never heard back): still three rows, and now it is a later one.
    resent = run(scans.sync, organiser, course.slug, [DoorScan("scan-b-01", "PTK1:" + CODE, at_b, "Door B")], now=later)
    assert resent[0].outcome == Outcome.ALREADY and resent[0].resent and "Door A" in resent[0].detail
    assert rows(sessions) == 3


def test_a_sync_answers_in_the_order_sent_and_counts_a_batch_sent_twice_once(run, sessions, organiser, course, ticket, make_registration):
    make_registration(course, name="Eko Prasetyo", checkin_code="ABCDE12345")
    make_registration(course, name="Farah Ibrahim", status=S.CANCELLED, checkin_code="ABCDE12346")
    batch = [
        DoorScan("scan-c-02", "ABCDE12345", MONDAY_9 + timedelta(minutes=5), "Door C"),
        DoorScan("scan-c-01", CODE, MONDAY_9, "Door C"),
        DoorScan("scan-c-03", "ABCDE12346", MONDAY_9, "Door C"),
        DoorScan("scan-c-04", "ZZZZZZZZZZ", MONDAY_9, "Door C"),
    ]
    later = MONDAY_9 + timedelta(hours=2)
    first = run(scans.sync, organiser, course.slug, batch, now=later)
    assert [(r.scan_id, r.outcome) for r in first] == [
        ("scan-c-02", Outcome.ADMITTED), ("scan-c-01", Outcome.ADMITTED), ("scan-c-03", Outcome.NOT_CONFIRMED), ("scan-c-04", Outcome.UNKNOWN),
    ]
    again = run(scans.sync, organiser, course.slug, batch, now=later)
    assert [r.outcome for r in again] == [r.outcome for r in first]
    assert all(r.resent for r in again[:2])
    assert rows(sessions) == 2


def test_a_doors_clock_is_believed_within_the_events_days_and_a_day_either_side(run, sessions, organiser, course, ticket):
    evening_before = STARTS - timedelta(hours=10)  # Sun 7 Mar, 23:00 in Singapore: counts for the first day
    result = run(scans.sync, organiser, course.slug, [DoorScan("scan-d-01", CODE, evening_before, "Door D")], now=MONDAY_9)
    assert result[0].outcome == Outcome.ADMITTED and result[0].at == evening_before and not result[0].clock_note
    assert result[0].day.isoformat() == "2027-03-08"
    # A clock a year behind, or an hour ahead of the server's: the server's time, and it says so.
    tuesday, wednesday = MONDAY_9 + timedelta(days=1), MONDAY_9 + timedelta(days=2)
    for n, (wrong, now) in enumerate([(MONDAY_9 - timedelta(days=365), tuesday), (wednesday + timedelta(hours=1), wednesday)]):
        answer = run(scans.sync, organiser, course.slug, [DoorScan(f"scan-d-1{n}", CODE, wrong, "Door D")], now=now)
        assert answer[0].outcome == Outcome.ADMITTED and answer[0].at == now
        assert "the server's time was used" in answer[0].clock_note


def test_a_day_the_event_does_not_run_is_refused(run, sessions, organiser, course, ticket):
    result = scan(run, organiser, course, CODE, now=STARTS - timedelta(days=7))
    assert result.outcome == Outcome.WRONG_DAY and "This event runs" in result.detail
    assert rows(sessions) == 0


def test_nobody_is_checked_in_to_a_cancelled_event(run, sessions, organiser, make_event, make_registration):
    cancelled = make_event(starts_at=STARTS, ends_at=ENDS, status=EventStatus.CANCELLED)
    make_registration(cancelled, checkin_code=CODE)
    assert scan(run, organiser, cancelled, CODE).outcome == Outcome.CLOSED
    assert rows(sessions) == 0


def test_the_doors_list_holds_only_what_the_door_shows(run, sessions, organiser, course, ticket, make_registration):
    make_registration(course, name="Grace Tan", email="grace@example.org", status=S.CANCELLED, checkin_code="ABCDE12345")
    make_registration(course, name="No Ticket Yet", status=S.PENDING)
    scan(run, organiser, course, CODE, door="North door")
    with sessions() as session:
        data = door_tickets(session, course.slug)
    assert [d.isoformat() for d in data.days] == ["2027-03-08", "2027-03-09", "2027-03-10"]
    shown = {t.code: t for t in data.tickets}
    assert set(shown) == {CODE, "ABCDE12345"}
    assert shown["ABCDE12345"].status == "cancelled" and shown["ABCDE12345"].days == {}
    came = shown[CODE].days
    assert [(d.isoformat(), c.at, c.door) for d, c in came.items()] == [("2027-03-08", MONDAY_9, "North door")]
    assert not hasattr(shown[CODE], "email")
    # What a door device is given, and nothing more: no address, no manage token.
    assert [f.name for f in dataclasses.fields(shown[CODE])] == ["code", "name", "organisation", "status", "days"]


def test_a_scan_the_day_after_the_event_is_refused_and_counts_for_no_day(run, sessions, organiser, course, ticket):
    last = scans.checkins.event_days(course)[-1]
    after = datetime.combine(last + timedelta(days=1), datetime.min.time().replace(hour=9), tzinfo=timezone(timedelta(hours=8)))
    result = scan(run, organiser, course, CODE, now=after)
    assert result.outcome == Outcome.WRONG_DAY
    # Nor with the door's own clock saying so, synced later.
    late = scan(run, organiser, course, CODE, now=after + timedelta(hours=2), scan_id="door-z-0000001", at=after)
    assert late.outcome == Outcome.WRONG_DAY
    assert rows(sessions) == 0
    # The evening before the first day counts for the first day (a desk opening early).
    first = scans.checkins.event_days(course)[0]
    evening = datetime.combine(first - timedelta(days=1), datetime.min.time().replace(hour=18), tzinfo=timezone(timedelta(hours=8)))
    assert scan(run, organiser, course, CODE, now=evening).outcome == Outcome.ADMITTED

"""Attendance per day: the door's tap and the roster's check-in and undo count for the event's
day in its own zone; the door's list says who is in today and who came on other days; the
certificate rule is counted as checkins.meets_rule says."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, CheckIn, Registration
from portal.models import RegistrationStatus as S
from portal.registrations import attendance, checkins
from portal.registrations.actions import RosterAction as A
from portal.registrations.actions import act_on_registration, act_on_registrations
from portal.rosters import door
from portal.rosters.attendance import event_attendance

UTC = ZoneInfo("UTC")
SGT = ZoneInfo("Asia/Singapore")
# Mon 8 to Fri 12 March 2027, 09:00 to 17:00 in Singapore.
STARTS = datetime(2027, 3, 8, 9, 0, tzinfo=SGT)
ENDS = datetime(2027, 3, 12, 17, 0, tzinfo=SGT)
MON, TUE, WED, THU, FRI = (date(2027, 3, d) for d in range(8, 13))


def sgt(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=SGT)


@pytest.fixture
def actor(make_organiser):  # type: ignore[no-untyped-def]
    return make_organiser("dora@example.org", name="Dora Door")


@pytest.fixture
def course(make_event):  # type: ignore[no-untyped-def]
    return make_event(starts_at=STARTS, ends_at=ENDS, capacity=None)


def rows(sessions, registration):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return [(c.day, c.at, c.door, c.organiser_id) for c in session.scalars(
            select(CheckIn).where(CheckIn.registration_id == registration.id).order_by(CheckIn.at)
        )]


def test_a_tap_checks_in_for_the_day_and_a_second_tap_that_day_is_refused(run, site, actor, course, make_registration, sessions):
    person = make_registration(course, name="Siti Aminah")
    first = run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(8, 8, 50), door="door page")
    assert [r.name for r in first.changed] == ["Siti Aminah"]
    again = run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(8, 14, 0), door="door page")
    assert again.changed == [] and again.skipped[0].problem == "is already checked in today"
    # The next day is a new day at the door.
    tuesday = run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(9, 8, 55), door="door page")
    assert [r.name for r in tuesday.changed] == ["Siti Aminah"]
    assert rows(sessions, person) == [
        (MON, sgt(8, 8, 50), "door page", actor.id), (TUE, sgt(9, 8, 55), "door page", actor.id),
    ]
    with sessions() as session:
        # The first check-in stays the registration's checked_in_at, for what reads it.
        assert session.get_one(Registration, person.id).checked_in_at == sgt(8, 8, 50)


def test_undo_removes_only_that_day(run, site, actor, course, make_registration, sessions):
    person = make_registration(course)
    for day in (8, 9):
        run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(day, 9))
    run(act_on_registration, site, actor, person.id, A.UNDO_CHECK_IN, now=sgt(9, 10))
    assert [r[0] for r in rows(sessions, person)] == [MON]
    nothing = run(act_on_registration, site, actor, person.id, A.UNDO_CHECK_IN, now=sgt(9, 11))
    assert nothing.skipped[0].problem == "is not checked in today"
    assert [r[0] for r in rows(sessions, person)] == [MON]
    with sessions() as session:
        assert session.get_one(Registration, person.id).checked_in_at == sgt(8, 9)
    # Undoing the only day clears the check-in time too.
    run(act_on_registration, site, actor, person.id, A.UNDO_CHECK_IN, now=sgt(8, 12))
    with sessions() as session:
        assert session.get_one(Registration, person.id).checked_in_at is None
    assert rows(sessions, person) == []


def test_the_day_is_the_event_s_own(run, site, actor, course, make_registration, sessions):
    person = make_registration(course)
    # 23:30 UTC on Monday is 07:30 on Tuesday in Singapore: Tuesday's check-in.
    run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=datetime(2027, 3, 8, 23, 30, tzinfo=UTC))
    assert [r[0] for r in rows(sessions, person)] == [TUE]
    # 15:59 UTC on Tuesday is still Tuesday there (23:59): the same day, refused.
    late = run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=datetime(2027, 3, 9, 15, 59, tzinfo=UTC))
    assert late.skipped[0].problem == "is already checked in today"
    # 16:00 UTC is midnight: Wednesday.
    run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=datetime(2027, 3, 9, 16, 0, tzinfo=UTC))
    assert [r[0] for r in rows(sessions, person)] == [TUE, WED]


def test_before_the_event_a_check_in_counts_for_its_first_day_and_says_which(run, site, actor, course, make_registration, sessions):
    person = make_registration(course)
    run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(7, 17))
    assert [r[0] for r in rows(sessions, person)] == [MON]
    again = run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(7, 18))
    assert again.skipped[0].problem == "is already checked in on Mon 8 Mar"


def test_only_the_confirmed_are_checked_in(run, site, actor, course, make_registration, sessions):
    people = [make_registration(course, status=status) for status in (S.WAITLISTED, S.PENDING, S.CANCELLED, S.REJECTED)]
    report = run(act_on_registrations, site, actor, course.slug, A.CHECK_IN, [p.id for p in people], now=sgt(8, 9))
    assert report.changed == []
    assert [r.problem for r in report.skipped] == [
        "is on the waiting list, so cannot be checked in", "is pending, so cannot be checked in",
        "is cancelled, so cannot be checked in", "is rejected, so cannot be checked in",
    ]
    with sessions() as session:
        assert session.scalars(select(CheckIn)).all() == []


def test_the_audit_log_keeps_each_check_in_and_undo_with_its_day(run, site, actor, course, make_registration, sessions):
    person = make_registration(course)
    run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(8, 9))
    run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(9, 9))
    run(act_on_registration, site, actor, person.id, A.UNDO_CHECK_IN, now=sgt(9, 10))
    with sessions() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.registration_id == person.id).order_by(AuditEntry.id)))
    assert [(e.action, e.after["day"], e.organiser_id) for e in entries] == [
        ("registration.check_in", "2027-03-08", actor.id), ("registration.check_in", "2027-03-09", actor.id),
        ("registration.undo_check_in", "2027-03-09", actor.id),
    ]
    assert entries[0].before == {"checked_in_at": None}
    assert entries[0].after["checked_in_at"] == sgt(8, 9).astimezone(UTC).isoformat()


def test_a_bulk_check_in_reads_everyone_s_days_at_once(run, site, actor, course, make_registration, sessions):
    came = make_registration(course, name="Came Monday")
    new = make_registration(course, name="New Tuesday")
    run(act_on_registration, site, actor, came.id, A.CHECK_IN, now=sgt(9, 8))
    report = run(act_on_registrations, site, actor, course.slug, A.CHECK_IN, [came.id, new.id], now=sgt(9, 9))
    assert [r.name for r in report.changed] == ["New Tuesday"]
    assert [(r.name, r.problem) for r in report.skipped] == [("Came Monday", "is already checked in today")]


def test_a_check_in_time_without_rows_counts_for_its_day(run, site, actor, course, make_registration, sessions):
    # Set by hand (or before check-ins were kept per day): counted for that time's day.
    person = make_registration(course, checked_in_at=sgt(8, 9, 30))
    refused = run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(8, 11))
    assert refused.skipped[0].problem == "is already checked in today"
    run(act_on_registration, site, actor, person.id, A.UNDO_CHECK_IN, now=sgt(8, 12))
    with sessions() as session:
        assert session.get_one(Registration, person.id).checked_in_at is None


def test_the_door_shows_who_is_in_today_and_who_came_on_other_days(run, site, actor, course, make_registration):
    monday_only = make_registration(course, name="Ana Monday")
    both = make_registration(course, name="Ben Both")
    never = make_registration(course, name="Cai Never")
    run(act_on_registrations, site, actor, course.slug, A.CHECK_IN, [monday_only.id, both.id], now=sgt(8, 9))
    run(act_on_registration, site, actor, both.id, A.CHECK_IN, now=sgt(9, 8, 45))
    tuesday = run(door.check_in_list, course.slug, now=sgt(9, 10))
    assert (tuesday.day, tuesday.day_number, len(tuesday.days), tuesday.when) == (TUE, 2, 5, "today")
    assert (tuesday.checked_in, tuesday.confirmed) == (1, 3)
    assert tuesday.today == {both.id: sgt(9, 8, 45)}
    assert tuesday.earlier == {monday_only.id: [MON], both.id: [MON]}
    assert never.id not in tuesday.today and never.id not in tuesday.earlier
    monday = run(door.check_in_list, course.slug, now=sgt(8, 18))
    assert set(monday.today) == {monday_only.id, both.id} and monday.checked_in == 2
    # After the event the door shows its last day, and says so.
    after = run(door.check_in_list, course.slug, now=sgt(20, 9))
    assert (after.day, after.when, after.checked_in) == (FRI, "on Fri 12 Mar", 0)


def test_a_one_day_event_counts_everyone_checked_in(run, site, actor, make_event, make_registration):
    seminar = make_event(starts_at=sgt(8, 14), ends_at=sgt(8, 16))
    person = make_registration(seminar)
    make_registration(seminar, checked_in_at=sgt(8, 13, 50))
    run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(8, 14, 5))
    shown = run(door.check_in_list, seminar.slug, now=sgt(8, 15))
    assert (shown.checked_in, shown.confirmed, len(shown.days)) == (2, 2, 1)
    assert set(shown.today) == {p.id for p in shown.people}


@pytest.mark.parametrize("rule", [None, {"days": 3}, {"days": 1}, {"share": 0.5}, {"share": 0.8}])
def test_who_meets_the_rule_is_counted_as_meets_rule_says(run, site, actor, make_event, make_registration, sessions, rule):
    course = make_event(starts_at=STARTS, ends_at=ENDS, capacity=None, certificate_rule=rule)
    people = [make_registration(course) for _ in range(6)]
    for n, person in enumerate(people):  # person n came on the first n days
        for day in range(8, 8 + n):
            run(act_on_registration, site, actor, person.id, A.CHECK_IN, now=sgt(day, 9))
    gone = make_registration(course)  # came every day, then cancelled: earns nothing
    for day in range(8, 13):
        run(act_on_registration, site, actor, gone.id, A.CHECK_IN, now=sgt(day, 9))
    run(act_on_registration, site, actor, gone.id, A.CANCEL)
    counted = run(event_attendance, course)
    with sessions() as session:
        event = session.get_one(type(course), course.id)
        attended = checkins.days_attended(session, [p.id for p in people])
        expected = sum(checkins.meets_rule(event, attended[p.id]) for p in people)
    assert counted.meeting == expected
    assert counted.days == [(MON, 6), (TUE, 5), (WED, 4), (THU, 3), (FRI, 2)]


def test_the_rule_is_checked_and_said_in_words():
    assert attendance.checked_rule(None, 5) is None
    assert attendance.checked_rule({"days": 5}, 5) == {"days": 5}
    assert attendance.checked_rule({"share": 1}, 5) == {"share": 1.0}
    assert attendance.checked_rule({"share": 0.33333}, 5) == {"share": 0.3333}
    for bad, words in [
        ({"days": 6}, "days must be from 1 to 5"), ({"days": 0}, "days must be from 1 to 5"), ({"days": 2.5}, "whole number"),
        ({"days": True}, "whole number"), ({"share": 0}, "share must be a number from 0.01 to 1"),
        ({"share": 80}, "share must be a number from 0.01 to 1"), ({"share": "80%"}, "share must be"),
        ({"days": 2, "share": 0.5}, 'one of "days" and "share"'), ({}, 'one of "days" and "share"'),
        ({"percent": 80}, "unknown key 'percent'"), ([3], "must be"),
    ]:
        with pytest.raises(ValueError, match=words):
            attendance.checked_rule(bad, 5)
    assert attendance.short_dates([date(2027, 3, 31), date(2027, 3, 30), date(2027, 4, 1)]) == "30, 31 Mar, 1 Apr 2027"
    assert attendance.share_percent(0.8) == "80" and attendance.share_percent(0.125) == "12.5"

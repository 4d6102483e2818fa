"""The rules of organisers' edits at the service level: a walk-in's seat and day, and a
note or a correction on its own registration only."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.models import Admission, AuditEntry, CheckIn, Registration, RegistrationNote
from portal.models import RegistrationStatus as S
from portal.registrations.organiser_edits import Details, EmailTaken, add_note, add_walk_in, edit_details, notes_of

# Tuesday 9 March 2027, 10:00 in Singapore: day 2 of a Monday-to-Friday course.
TUESDAY = datetime(2027, 3, 9, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def actor(make_organiser):  # type: ignore[no-untyped-def]
    return make_organiser("door@example.org", name="Door Desk")


@pytest.fixture
def course(make_event):  # type: ignore[no-untyped-def]
    return make_event(
        starts_at=datetime(2027, 3, 8, 1, 0, tzinfo=timezone.utc), ends_at=datetime(2027, 3, 12, 9, 0, tzinfo=timezone.utc), capacity=3,
    )


def test_a_walk_in_is_checked_in_for_the_day_it_is_on_at_a_course(run, site, actor, course):
    done = run(add_walk_in, site, actor, course.slug, Details("Ana Walker", "ana@example.org"), now=TUESDAY)
    assert done.registration is not None and done.day == date(2027, 3, 9) and not done.over_capacity
    days = run(lambda session: list(session.scalars(select(CheckIn.day))))
    assert days == [date(2027, 3, 9)]


def test_a_walk_in_takes_no_seat_from_a_full_event_with_a_waiting_list(run, site, actor, course, make_registration):
    for _ in range(3):
        make_registration(course)
    waiting = make_registration(course, status=S.WAITLISTED)
    done = run(add_walk_in, site, actor, course.slug, Details("Bo", "bo@example.org"), now=TUESDAY)
    # Full means full at the door too: nobody jumps the waiting list without the override.
    assert done.full and done.registration is None and (done.confirmed, done.capacity) == (3, 3)
    assert run(lambda session: session.scalar(select(func.count()).select_from(Registration))) == 4
    forced = run(add_walk_in, site, actor, course.slug, Details("Bo", "bo@example.org"), over_capacity=True, now=TUESDAY)
    assert forced.over_capacity and forced.registration is not None
    assert run(lambda session: session.get_one(Registration, waiting.id).status) == S.WAITLISTED


def test_the_override_is_not_recorded_when_a_seat_was_free(run, site, actor, course):
    done = run(add_walk_in, site, actor, course.slug, Details("Cy", "cy@example.org"), over_capacity=True, now=TUESDAY)
    assert not done.over_capacity
    entry = run(lambda session: session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.walk_in")).one())
    assert "over capacity" not in (entry.after or {})


def test_a_walk_in_at_an_application_programme_is_confirmed_by_the_organiser(run, site, actor, make_programme, make_event):
    programme = make_programme(code="isf-asia", admission=Admission.APPLICATION)
    event = make_event(programme_id=programme.id)
    done = run(add_walk_in, site, actor, event.slug, Details("Di", "di@example.org"))
    assert done.registration is not None and done.registration.status == S.CONFIRMED


def test_a_correction_checks_the_address_against_the_active_registrations_only(run, actor, course, make_registration):
    one = make_registration(course, email="one@example.org")
    make_registration(course, email="two@example.org")
    with pytest.raises(EmailTaken):
        run(edit_details, actor, one.id, Details("One", "two@example.org"))
    assert run(edit_details, actor, one.id, Details(one.name, "one@example.org")) == []


def test_notes_belong_to_their_registration_in_the_order_written(run, actor, course, make_registration):
    first, second = make_registration(course), make_registration(course)
    run(add_note, actor, first.id, "first note", now=TUESDAY)
    run(add_note, actor, first.id, "second note", now=TUESDAY + timedelta(minutes=1))
    run(add_note, actor, second.id, "elsewhere")
    assert [(n.text, n.by) for n in run(notes_of, first.id)] == [("first note", "Door Desk"), ("second note", "Door Desk")]
    assert run(lambda session: session.scalar(select(func.count()).select_from(RegistrationNote))) == 3

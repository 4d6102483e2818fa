"""Reminders before an event and a follow-up after it: due by the schedule, to the right
people, once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from portal.db import utcnow
from portal.mail.audiences import ListOptions
from portal.mail.mailings import fan_out_batch
from portal.mail.planner import Schedule, digest_due, reminder_offsets
from portal.models import Event, EventStatus, RegistrationStatus


def _hours(n: float) -> timedelta:
    return timedelta(hours=n)


def test_a_reminder_goes_once_to_the_confirmed_who_registered_before_it_was_due(
    run, make_event, make_registration, plan, fan_out, queued, mailings
):
    now = utcnow()
    event = make_event(starts_at=now + _hours(30), ends_at=now + _hours(32), online_url="https://meet.example.org/x")
    due = event.starts_at - timedelta(days=2)  # two days before: already due
    early = make_registration(event, created_at=due - _hours(1))
    make_registration(event, created_at=due - _hours(1), status=RegistrationStatus.WAITLISTED)
    make_registration(event, created_at=due - _hours(1), status=RegistrationStatus.PENDING, confirmed_at=None)
    make_registration(event, created_at=due - _hours(1), status=RegistrationStatus.CANCELLED)
    make_registration(event, created_at=due + _hours(1))  # registered after it was due

    assert plan(now=now) == 1
    assert plan(now=now) == 0  # planned once, however often the worker looks
    fan_out(now=now)
    (reminder,) = queued("reminder")
    assert reminder.to_address == early.email
    assert reminder.headers == {"Auto-Submitted": "auto-generated"}
    assert "https://meet.example.org/x" in reminder.body_text
    assert f"/registrations/{early.token}" in reminder.body_text
    (ics,) = reminder.attachments
    assert ics["filename"] == "invite.ics" and "METHOD:REQUEST" in ics["content"] and event.uid in ics["content"]
    assert mailings()[f"reminder:{event.id}:P2D"].due_at == due
    fan_out(now=now)
    plan(now=now + _hours(1))
    fan_out(now=now + _hours(1))
    assert len(queued("reminder")) == 1


def test_each_reminder_of_the_schedule_comes_at_its_own_time(run, make_event, make_registration, plan, fan_out, queued):
    now = utcnow()
    event = make_event(starts_at=now + _hours(50), ends_at=now + _hours(52), reminders=["P2D", "PT2H"])
    make_registration(event, created_at=now - timedelta(days=5))
    plan(now=now)
    fan_out(now=now)
    assert queued("reminder") == []  # two days before is in two hours
    plan(now=now + _hours(2))
    fan_out(now=now + _hours(2))
    assert len(queued("reminder")) == 1
    plan(now=now + _hours(48))
    fan_out(now=now + _hours(48))
    assert len(queued("reminder")) == 2


def test_no_reminders_for_an_event_that_wants_none_is_cancelled_or_has_started(run, make_event, make_registration, plan, fan_out, queued, mailings):
    now = utcnow()
    none = make_event(starts_at=now + _hours(10), ends_at=now + _hours(12), reminders=[])
    cancelled = make_event(starts_at=now + _hours(10), ends_at=now + _hours(12), status=EventStatus.CANCELLED)
    started = make_event(starts_at=now + _hours(10), ends_at=now + _hours(12))
    for event in (none, cancelled, started):
        make_registration(event, created_at=now - timedelta(days=9))
    plan(now=now)
    assert set(mailings()) == {f"reminder:{started.id}:P2D"}
    # The worker was away until the event began: a reminder found after the start is not sent.
    fan_out(now=now + _hours(11))
    assert queued("reminder") == []
    assert mailings()[f"reminder:{started.id}:P2D"].note == "the event had started"


def test_an_event_cancelled_during_its_reminder_s_fan_out_stops_it(run, site, make_event, make_registration, plan, fan_out, queued, mailings):
    now = utcnow()
    event = make_event(starts_at=now + _hours(10), ends_at=now + _hours(12))
    for _ in range(4):
        make_registration(event, created_at=now - timedelta(days=9))
    plan(now=now)
    assert run(lambda s: fan_out_batch(s, site, ListOptions(), now=now, limit=2)) == 2
    run(lambda s: setattr(s.get(Event, event.id), "status", EventStatus.CANCELLED))
    fan_out(now=now)
    assert len(queued("reminder")) == 2
    assert mailings()[f"reminder:{event.id}:P2D"].note == "the event is cancelled or not published"


def test_a_moved_event_s_reminder_follows_its_new_time(run, make_event, make_registration, plan, fan_out, queued):
    now = utcnow()
    event = make_event(starts_at=now + _hours(40), ends_at=now + _hours(42))
    make_registration(event, created_at=now - timedelta(days=9))
    plan(now=now)
    fan_out(now=now)
    assert len(queued("reminder")) == 1  # due 8 hours ago: sent now
    moved = make_event(starts_at=now + _hours(40), ends_at=now + _hours(42))
    make_registration(moved, created_at=now - timedelta(days=9))
    run(lambda s: (setattr(s.get(Event, moved.id), "starts_at", now + _hours(60)), setattr(s.get(Event, moved.id), "ends_at", now + _hours(62))))
    plan(now=now)
    fan_out(now=now)
    assert len(queued("reminder")) == 1  # moved to 60 hours away: its reminder is 12 hours off
    plan(now=now + _hours(12))
    fan_out(now=now + _hours(12))
    assert len(queued("reminder")) == 2


def test_the_site_default_schedule_applies_unless_the_event_has_its_own():
    event = Event(reminders=None)
    assert [t for t, _ in reminder_offsets(event, ("P1D", "PT1H"))] == ["P1D", "PT1H"]
    event.reminders = []
    assert reminder_offsets(event, ("P1D",)) == []
    event.reminders = ["PT30M"]
    assert reminder_offsets(event, ("P1D",)) == [("PT30M", timedelta(minutes=30))]


def test_a_follow_up_goes_to_those_who_came_or_to_every_confirmed_when_no_one_was_checked_in(
    run, make_event, make_registration, plan, fan_out, queued
):
    now = utcnow()
    followup = {"after": "P1D", "subject": "Slides for {event}", "body": "Dear {name}, the slides: https://example.org/s"}
    came = make_event(starts_at=now - _hours(50), ends_at=now - _hours(48), followup=followup)
    here = make_registration(came, checked_in_at=now - _hours(49))
    make_registration(came)  # confirmed, did not come
    make_registration(came, status=RegistrationStatus.CANCELLED, checked_in_at=now - _hours(49))
    nobody_checked = make_event(starts_at=now - _hours(50), ends_at=now - _hours(48), followup=followup)
    everyone = [make_registration(nobody_checked) for _ in range(2)]
    make_registration(nobody_checked, status=RegistrationStatus.WAITLISTED)
    later = make_event(starts_at=now - _hours(5), ends_at=now - _hours(3), followup=followup)
    make_registration(later, checked_in_at=now - _hours(4))

    plan(now=now)
    plan(now=now)
    fan_out(now=now)
    rows = queued("followup")
    assert sorted(r.to_address for r in rows) == sorted([here.email, *(r.email for r in everyone)])
    mine = next(r for r in rows if r.to_address == here.email)
    assert mine.subject == f"Slides for {came.title}"
    assert f"Dear {here.name}, the slides" in mine.body_text
    assert mine.headers == {"Auto-Submitted": "auto-generated"}
    # A day after the later event's end, its follow-up goes too, and the others not again.
    plan(now=now + _hours(21))
    fan_out(now=now + _hours(21))
    assert len(queued("followup")) == 4


def test_the_weekly_digest_is_due_on_its_weekday_from_eight_in_the_site_s_zone():
    schedule = Schedule(digest_weekday=0, timezone="Asia/Singapore")
    monday_7_local = datetime(2027, 1, 3, 23, 0, tzinfo=timezone.utc)  # Mon 4 Jan 07:00 +08
    key, due = digest_due(schedule, monday_7_local)
    assert key == "digest:2026-12-28"  # its hour has not come: still last week's
    key, due = digest_due(schedule, monday_7_local + _hours(1))
    assert key == "digest:2027-01-04" and due == datetime(2027, 1, 4, 0, 0, tzinfo=timezone.utc)
    key, _ = digest_due(schedule, monday_7_local + timedelta(days=3))
    assert key == "digest:2027-01-04"


def test_an_event_postponed_after_its_reminder_is_reminded_again_before_the_new_date(run, make_event, make_registration, plan, fan_out, queued, mailings):
    now = utcnow()
    event = make_event(starts_at=now + _hours(30), ends_at=now + _hours(32))
    make_registration(event, created_at=now - timedelta(days=9))
    plan(now=now)
    fan_out(now=now)
    assert len(queued("reminder")) == 1
    # Moved by an hour: the reminder sent still reminds; nothing more.
    run(lambda s: (setattr(s.get(Event, event.id), "starts_at", now + _hours(31)), setattr(s.get(Event, event.id), "ends_at", now + _hours(33))))
    plan(now=now + _hours(1))
    fan_out(now=now + _hours(1))
    assert len(queued("reminder")) == 1
    # Postponed by ten days: a reminder two days before the new date.
    later = now + timedelta(days=10, hours=30)
    run(lambda s: (setattr(s.get(Event, event.id), "starts_at", later), setattr(s.get(Event, event.id), "ends_at", later + _hours(2))))
    plan(now=now + _hours(2))
    assert len(mailings()) == 1
    plan(now=later - timedelta(days=2))
    plan(now=later - timedelta(days=2))
    fan_out(now=later - timedelta(days=2))
    assert len(queued("reminder")) == 2
    assert len([k for k in mailings() if k.startswith(f"reminder:{event.id}:P2D")]) == 2


def test_a_check_in_recorded_during_a_follow_up_s_fan_out_changes_nobody_s_email(run, site, make_event, make_registration, plan, fan_out, queued):
    now = utcnow()
    followup = {"after": "PT1H", "subject": "Thank you", "body": "Slides."}
    event = make_event(starts_at=now - _hours(5), ends_at=now - _hours(3), followup=followup)
    people = [make_registration(event) for _ in range(3)]
    plan(now=now)
    run(lambda s: fan_out_batch(s, site, ListOptions(), now=now, limit=1))
    # Someone is checked in late, while the follow-up (to everyone: nobody was) goes out.
    run(lambda s: setattr(s.get(type(people[2]), people[2].id), "checked_in_at", utcnow()))
    fan_out(now=now)
    assert sorted(r.to_address for r in queued("followup")) == sorted(p.email for p in people)

"""A course held at the same hours on several days reads as those days in every client's
parser (icalendar, vobject, ical.js), in UTC or, across a daylight-saving change, in its zone;
a participant's own copy of an event carries a reminder a day before, a public feed none."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from portal.calendars import ical
from portal.calendars.ical import event_calendar, google_calendar_link
from portal.models import EventStatus, RegistrationStatus
from portal.site import Site
from tests.catalogue.feeds.conftest import parse
from tests.catalogue.feeds.icaljs import by_uid, read_with_icaljs

SITE = Site(base_url="https://events.example.org", mail_from="events@example.org", timezone="Asia/Singapore")
SGT = ZoneInfo("Asia/Singapore")
LONDON = ZoneInfo("Europe/London")
EIGHT_HOURS = timedelta(hours=8)


def singapore_week(make_event, **values):
    """Monday 2 to Friday 6 August 2027, 09:00 to 17:00 in Singapore."""
    return make_event(
        title="Terrorism Analyst Training Course", category="course", timezone="Asia/Singapore",
        starts_at=datetime(2027, 8, 2, 9, 0, tzinfo=SGT), ends_at=datetime(2027, 8, 6, 17, 0, tzinfo=SGT), **values,
    )


def london_across_the_change(make_event):
    """Thursday 25 to Tuesday 30 March 2027, 09:00 to 17:00 in London: the clocks go forward
    on Sunday 28th, so the first three days start at 09:00 UTC and the last three at 08:00."""
    return make_event(
        title="Course in London", category="course", timezone="Europe/London",
        starts_at=datetime(2027, 3, 25, 9, 0, tzinfo=LONDON), ends_at=datetime(2027, 3, 30, 17, 0, tzinfo=LONDON),
    )


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_a_monday_to_friday_course_is_five_days_of_eight_hours(client, make_event):
    course = singapore_week(make_event)
    body = client.get(f"/events/{course.slug}/calendar.ics").content
    parsed = parse(body)
    mornings = [datetime(2027, 8, day, 9, 0, tzinfo=SGT) for day in range(2, 7)]

    component = parsed.event(course.uid)
    assert dict(component["RRULE"]) == {"FREQ": ["DAILY"], "COUNT": [5]}
    assert component.start == mornings[0] and component.end == mornings[0] + EIGHT_HOURS
    assert "DTSTART:20270802T010000Z\r\n" in parsed.text and "DTEND:20270802T090000Z\r\n" in parsed.text
    assert "BEGIN:VTIMEZONE" not in parsed.text  # no daylight-saving change: UTC is exact
    assert str(component["DESCRIPTION"]).startswith("Five days, 09:00–17:00 (Asia/Singapore) each day\n\n")

    v = parsed.vevent(course.uid)
    assert list(v.getrruleset()) == mornings
    assert v.dtend.value - v.dtstart.value == EIGHT_HOURS

    (read,) = read_with_icaljs(body)["events"]
    assert read["occurrences"] == [{"start": _iso(m), "end": _iso(m + EIGHT_HOURS)} for m in mornings]


def test_a_course_across_a_daylight_saving_change_keeps_its_local_hours(client, make_event):
    course = london_across_the_change(make_event)
    body = client.get(f"/events/{course.slug}/calendar.ics").content
    parsed = parse(body)
    mornings = [datetime(2027, 3, day, 9, 0, tzinfo=LONDON) for day in range(25, 31)]
    assert [m.astimezone(timezone.utc).hour for m in mornings] == [9, 9, 9, 8, 8, 8]

    assert "DTSTART;TZID=Europe/London:20270325T090000\r\n" in parsed.text
    assert "DTEND;TZID=Europe/London:20270325T170000\r\n" in parsed.text
    (zone,) = parsed.ical.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/London"
    component = parsed.event(course.uid)
    assert dict(component["RRULE"]) == {"FREQ": ["DAILY"], "COUNT": [6]}
    assert str(component["DESCRIPTION"]).startswith("Six days, 09:00–17:00 (Europe/London) each day")

    # icalendar reads the start in the zone; the rule expands in it to the right instants.
    assert str(component.start.tzinfo) == "Europe/London"
    assert list(rrulestr(component["RRULE"].to_ical().decode(), dtstart=component.start)) == mornings
    assert component.end - component.start == EIGHT_HOURS
    # vobject expands to 09:00 on each date in the zone named (its pytz zones keep the first
    # day's offset on the values, so their wall time and zone are what it says).
    days = list(parsed.vevent(course.uid).getrruleset())
    assert [d.replace(tzinfo=None) for d in days] == [m.replace(tzinfo=None) for m in mornings]
    assert {str(d.tzinfo) for d in days} == {"Europe/London"}

    (read,) = read_with_icaljs(body)["events"]
    assert read["occurrences"] == [{"start": _iso(m), "end": _iso(m + EIGHT_HOURS)} for m in mornings]


def test_what_runs_overnight_or_is_one_day_stays_one_block(make_event):
    overnight = make_event(  # Monday 18:00 to Wednesday 12:00: a conference that runs through
        starts_at=datetime(2027, 8, 2, 18, 0, tzinfo=SGT), ends_at=datetime(2027, 8, 4, 12, 0, tzinfo=SGT),
    )
    same_hour = make_event(  # ends at the hour it began: no day's hours to repeat
        starts_at=datetime(2027, 8, 2, 9, 0, tzinfo=SGT), ends_at=datetime(2027, 8, 4, 9, 0, tzinfo=SGT),
    )
    one_day = make_event(starts_at=datetime(2027, 8, 2, 9, 0, tzinfo=SGT), ends_at=datetime(2027, 8, 2, 17, 0, tzinfo=SGT))
    all_day = make_event(
        all_day=True, starts_at=datetime(2027, 8, 2, 9, 0, tzinfo=SGT), ends_at=datetime(2027, 8, 6, 17, 0, tzinfo=SGT),
    )
    parsed = parse(event_calendar([(e, None) for e in (overnight, same_hour, one_day, all_day)], site=SITE, name="x"))
    for event in (overnight, same_hour, one_day):
        component = parsed.event(event.uid)
        assert "RRULE" not in component
        assert (component.start, component.end) == (event.starts_at, event.ends_at)
        assert "each day" not in str(component.get("DESCRIPTION", ""))
    assert "RRULE" not in parsed.event(all_day.uid)
    assert "BEGIN:VTIMEZONE" not in parsed.text


def test_a_cancelled_course_cancels_the_whole_series(client, make_event, edit_event):
    course = london_across_the_change(make_event)
    before = parse(client.get(f"/events/{course.slug}/calendar.ics").content).event(course.uid)
    edit_event(course.slug, status="cancelled")
    body = client.get(f"/events/{course.slug}/calendar.ics").content
    parsed = parse(body)
    component = parsed.event(course.uid)
    # The same series (UID, rule, first day) with a higher SEQUENCE and no RECURRENCE-ID: every day.
    assert str(component["STATUS"]) == "CANCELLED" and "RECURRENCE-ID" not in component
    assert dict(component["RRULE"]) == dict(before["RRULE"]) and component.start == before.start
    assert int(component["SEQUENCE"]) > int(before["SEQUENCE"])
    (read,) = read_with_icaljs(body)["events"]
    assert read["status"] == "CANCELLED" and len(read["occurrences"]) == 6

    cancel = event_calendar([(course, None)], site=SITE, name="x", method="CANCEL", attendee="ann@example.org")
    message = parse(cancel).event(course.uid)
    assert str(message["STATUS"]) == "CANCELLED" and dict(message["RRULE"])["COUNT"] == [6]
    assert "BEGIN:VALARM" not in cancel.decode()


def test_the_personal_feed_reminds_a_day_before_and_public_feeds_do_not(client, make_event, make_registration, make_programme):
    programme = make_programme(code="tatc")
    course = singapore_week(make_event, programme_id=programme.id)
    seminar, waiting = make_event(programme_id=programme.id), make_event(programme_id=programme.id)
    cancelled = make_event(programme_id=programme.id, status=EventStatus.CANCELLED)
    email = "ann@example.org"
    mine = make_registration(course, email=email)
    for event in (seminar, cancelled):
        make_registration(event, email=email)
    make_registration(waiting, email=email, status=RegistrationStatus.WAITLISTED)

    body = client.get(f"/registrations/{mine.token}/calendar.ics").content
    parsed = parse(body)
    read = by_uid(read_with_icaljs(body))
    for event in (course, seminar):
        (alarm,) = parsed.event(event.uid).walk("VALARM")
        assert (str(alarm["ACTION"]), alarm["TRIGGER"].dt) == ("DISPLAY", -timedelta(days=1))
        assert str(alarm["DESCRIPTION"]) == event.title
        (v_alarm,) = parsed.vevent(event.uid).valarm_list
        assert v_alarm.trigger.value == -timedelta(days=1)
        assert read[event.uid]["alarms"] == [{"action": "DISPLAY", "trigger": "-P1D", "description": event.title}]
    # No seat yet, or nothing to go to: no reminder.
    assert parsed.event(waiting.uid).walk("VALARM") == [] and read[waiting.uid]["alarms"] == []
    assert parsed.event(cancelled.uid).walk("VALARM") == [] and read[cancelled.uid]["alarms"] == []

    for path in ("/calendar.ics", "/programmes/tatc/calendar.ics", f"/events/{course.slug}/calendar.ics"):
        public = client.get(path).content
        assert course.uid in public.decode() and b"VALARM" not in public, path


def test_the_reminder_follows_the_event_and_the_setting(client, make_event, make_registration, edit_event, monkeypatch):
    """The personal blocks are kept per process: an edit or another ALARM makes them again."""
    course = singapore_week(make_event)
    mine = make_registration(course, email="ann@example.org")
    path = f"/registrations/{mine.token}/calendar.ics"
    assert "DESCRIPTION:Terrorism Analyst Training Course\r\nTRIGGER:-P1D\r\n" in client.get(path).text
    edit_event(course.slug, title="TATC August")
    assert "DESCRIPTION:TATC August\r\nTRIGGER:-P1D\r\n" in client.get(path).text
    monkeypatch.setattr(ical, "ALARM", timedelta(hours=2))
    assert "TRIGGER:-PT2H\r\n" in client.get(path).text
    monkeypatch.setattr(ical, "ALARM", None)
    assert "VALARM" not in client.get(path).text


def test_a_public_feed_names_each_zone_once_over_the_years_its_series_need(make_event):
    first = london_across_the_change(make_event)
    later = make_event(
        timezone="Europe/London",
        starts_at=datetime(2028, 10, 27, 9, 0, tzinfo=LONDON), ends_at=datetime(2028, 10, 31, 17, 0, tzinfo=LONDON),
    )
    course = singapore_week(make_event)
    parsed = parse(event_calendar([(e, None) for e in (first, later, course)], site=SITE, name="x"))
    (zone,) = parsed.ical.walk("VTIMEZONE")
    assert "2027-01-01 to 2030-01-01" in str(zone["COMMENT"])
    assert parsed.text.index("BEGIN:VTIMEZONE") < parsed.text.index("BEGIN:VEVENT")
    component = parsed.event(later.uid)
    days = list(rrulestr(component["RRULE"].to_ical().decode(), dtstart=component.start))
    assert [d.astimezone(timezone.utc).hour for d in days] == [8, 8, 9, 9, 9]  # BST until Sunday 29th
    assert {d.astimezone(LONDON).hour for d in days} == {9}


def test_the_google_link_repeats_the_first_day(make_event):
    course = singapore_week(make_event)
    query = parse_qs(urlsplit(google_calendar_link(course, "https://events.example.org/events/x")).query)
    assert query["dates"] == ["20270802T010000Z/20270802T090000Z"]
    assert query["recur"] == ["RRULE:FREQ=DAILY;COUNT=5"] and query["ctz"] == ["Asia/Singapore"]

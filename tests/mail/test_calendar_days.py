"""The .ics an email carries, as the participant's calendar reads it: a course held over several
days is those days (in its zone across a daylight-saving change), and an invitation to a seat
reminds them a day before while a cancellation does not."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from portal.mail.messages import queue_registration_message
from portal.models import Registration, RegistrationStatus
from tests.catalogue.feeds.conftest import check_lines
from tests.catalogue.feeds.icaljs import read_with_icaljs

SGT = ZoneInfo("Asia/Singapore")
LONDON = ZoneInfo("Europe/London")


def queue(run, site, kind, registration, event, **extra):
    def _queue(session):
        reg = session.get(Registration, registration.id)
        return queue_registration_message(session, site, kind, reg, session.get(type(event), event.id), **extra).id

    return run(_queue)


def the_ics(arrival) -> bytes:
    (part,) = [a for a in arrival.attachments() if a.get_content_type() == "text/calendar"]
    body = part.get_payload(decode=True)
    check_lines(body)
    return body


def course(make_event, zone=SGT, first=(2027, 8, 2), last=(2027, 8, 6)):
    return make_event(
        title="Course <one>", category="course", timezone=str(zone),
        starts_at=datetime(*first, 9, 0, tzinfo=zone), ends_at=datetime(*last, 17, 0, tzinfo=zone),
    )


@pytest.mark.parametrize(
    "kind, extra",
    [("confirmed", {}), ("promoted", {}), ("approved", {}), ("event_changed", {"previous": {}})],
)
def test_an_invitation_to_a_seat_is_the_days_with_a_reminder_a_day_before(
    kind, extra, run, site, make_event, make_registration, smtp_server, deliver
):
    event = course(make_event)
    registration = make_registration(event, email="ann@example.org")
    queue(run, site, kind, registration, event, **extra)
    deliver(smtp_server)
    (arrival,) = smtp_server.arrivals
    body = the_ics(arrival)
    text = body.decode()

    (component,) = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert dict(component["RRULE"]) == {"FREQ": ["DAILY"], "COUNT": [5]}
    assert component.end - component.start == timedelta(hours=8)
    (alarm,) = component.walk("VALARM")
    assert (str(alarm["ACTION"]), alarm["TRIGGER"].dt) == ("DISPLAY", -timedelta(days=1))
    assert str(alarm["DESCRIPTION"]) == "Course <one>"
    # This message's own lines come with the event's properties, before the alarm.
    assert text.index("ATTENDEE") < text.index("BEGIN:VALARM") and text.index("DTSTAMP") < text.index("BEGIN:VALARM")

    (read,) = read_with_icaljs(body)["events"]
    assert read["attendees"] == ["mailto:ann@example.org"]
    assert read["alarms"] == [{"action": "DISPLAY", "trigger": "-P1D", "description": "Course <one>"}]
    assert [o["start"][:16] for o in read["occurrences"]] == [f"2027-08-0{d}T01:00" for d in range(2, 7)]


def test_an_invitation_across_a_daylight_saving_change_carries_the_zone(
    run, site, make_event, make_registration, smtp_server, deliver
):
    event = course(make_event, LONDON, (2027, 10, 28), (2027, 11, 2))  # clocks go back on Sunday 31 October
    queue(run, site, "confirmed", make_registration(event), event)
    deliver(smtp_server)
    body = the_ics(smtp_server.arrivals[0])
    calendar = icalendar.Calendar.from_ical(body)
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/London"]
    assert "DTSTART;TZID=Europe/London:20271028T090000\r\n" in body.decode()
    (read,) = read_with_icaljs(body)["events"]
    hours = [o["start"][11:16] for o in read["occurrences"]]
    assert hours == ["08:00"] * 3 + ["09:00"] * 3  # 09:00 in London: BST, then GMT from Sunday 31st


@pytest.mark.parametrize("kind, extra", [("cancelled", {"held_seat": True}), ("event_cancelled", {})])
def test_a_cancellation_cancels_the_series_without_a_reminder(
    kind, extra, run, site, make_event, make_registration, smtp_server, deliver
):
    event = course(make_event)
    status = RegistrationStatus.CANCELLED if kind == "cancelled" else RegistrationStatus.CONFIRMED
    queue(run, site, kind, make_registration(event, status=status), event, **extra)
    deliver(smtp_server)
    body = the_ics(smtp_server.arrivals[0])
    calendar = icalendar.Calendar.from_ical(body)
    (component,) = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "CANCEL" and str(component["STATUS"]) == "CANCELLED"
    assert str(component["UID"]) == event.uid and "RECURRENCE-ID" not in component
    assert dict(component["RRULE"])["COUNT"] == [5]
    assert b"VALARM" not in body

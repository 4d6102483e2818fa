"""What participants receive, checked at a real SMTP server: who it is for, the subject, the
text and HTML parts, the private link, the event's time in its zone, and the .ics."""

from __future__ import annotations

import re
from datetime import timedelta, timezone

import icalendar
import pytest

from portal.calendars import ical
from portal.mail import lostlinks
from portal.mail.messages import KINDS, queue_registration_message
from portal.mail.transports import Envelope, build_message
from portal.models import Admission, EventSession, OutboxMessage, Registration, RegistrationStatus, SessionKind
from portal.templating import date_range
from tests.conftest import BASE_URL, csrf_from

S = RegistrationStatus
LINK = re.compile(re.escape(BASE_URL) + r"/registrations/([A-Za-z0-9_\-]{40,})")


def token_of(run, email_address):
    def _find(session):
        return session.query(Registration).filter_by(email=email_address).one().token

    return run(_find)


def the_link(arrival):
    """The manage link, which must be the same in both parts."""
    text_links = set(LINK.findall(arrival.text))
    html_links = set(LINK.findall(arrival.html))
    assert len(text_links) == 1, arrival.text
    assert text_links == html_links
    return text_links.pop()


def cancel_online(client, token):  # type: ignore[no-untyped-def]
    """The participant cancels from their manage link: the page that asks, then its form."""
    page = client.get(f"/registrations/{token}/cancel")
    response = client.post(f"/registrations/{token}/cancel", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303, response.text[:300]


def vevent(calendar):
    (event,) = calendar.walk("VEVENT")
    return event


def when(event):
    return date_range(event.starts_at, event.ends_at, event.timezone, event.all_day)


# --- the public flow -----------------------------------------------------------------------


def test_open_registration_is_confirmed_with_an_invitation(client, run, settings, make_event, register_online, smtp_server, deliver):
    event = make_event(title="Maritime security & <the law>", capacity=5, timezone="Asia/Singapore")
    register_online(event, "Ann@Example.org", name="Ann Lee")

    assert deliver(smtp_server) == (1, 0)
    (arrival,) = smtp_server.arrivals
    assert arrival.rcpt_tos == ["ann@example.org"]
    assert arrival.mail_from == settings.mail_from
    assert arrival.subject == "Confirmed: Maritime security & <the law>"
    assert the_link(arrival) == token_of(run, "ann@example.org")
    # The event's local time, with its zone named, in both parts.
    assert when(event) in arrival.text and "(Asia/Singapore, UTC+08)" in arrival.text
    assert when(event) in arrival.html
    assert "Dear Ann Lee" in arrival.text
    # The HTML part escapes what organisers and participants typed.
    assert "Maritime security &amp; &lt;the law&gt;" in arrival.html
    assert "<the law>" not in arrival.html

    (part,) = arrival.attachments()
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST"
    assert part.get_filename() == "invite.ics"
    calendar = arrival.calendar()
    assert calendar["METHOD"] == "REQUEST"
    component = vevent(calendar)
    assert component["UID"] == event.uid == ical.event_uid(event)
    assert component.decoded("DTSTART") == event.starts_at.astimezone(timezone.utc)
    assert str(component["ATTENDEE"]) == "mailto:ann@example.org"
    # The private link never travels inside the calendar file.
    assert token_of(run, "ann@example.org") not in part.get_payload(decode=True).decode()

    # The same UID as the event's public feed, so calendar apps keep one copy.
    feed = icalendar.Calendar.from_ical(client.get(f"/events/{event.slug}/calendar.ics").content)
    assert vevent(feed)["UID"] == component["UID"]


def test_a_full_event_puts_people_on_the_waiting_list_with_their_position(make_event, register_online, smtp_server, deliver):
    event = make_event(capacity=1)
    register_online(event, "first@example.org")
    register_online(event, "second@example.org")
    register_online(event, "third@example.org")

    assert deliver(smtp_server) == (3, 0)
    (second,) = smtp_server.to("second@example.org")
    (third,) = smtp_server.to("third@example.org")
    assert second.subject == f"Waiting list (position 1): {event.title}"
    assert third.subject == f"Waiting list (position 2): {event.title}"
    assert "waiting list at position 2" in third.text
    assert "position 2" in third.html
    # Nothing to put in a calendar yet.
    assert third.attachments() == []
    assert the_link(third)


def test_an_application_is_received_and_pending(make_programme, make_event, register_online, run, smtp_server, deliver):
    programme = make_programme(admission=Admission.APPLICATION)
    event = make_event(programme_id=programme.id)
    register_online(event, "applicant@example.org")

    deliver(smtp_server)
    (arrival,) = smtp_server.to("applicant@example.org")
    assert arrival.subject == f"Application received: {event.title}"
    assert "will review your application" in arrival.text
    assert "Pending" in arrival.text and "Pending" in arrival.html
    assert the_link(arrival) == token_of(run, "applicant@example.org")
    assert arrival.attachments() == []


def test_registering_twice_mails_the_same_link_to_the_owner(client, make_event, register_online, smtp_server, deliver):
    event = make_event()
    first = register_online(event, "twice@example.org")
    second = register_online(event, "Twice@example.org ")
    assert first.headers["location"] == second.headers["location"]

    assert deliver(smtp_server) == (2, 0)
    confirmed, again = smtp_server.to("twice@example.org")
    assert again.subject == f"Your registration: {event.title}"
    assert "already registered" in again.text
    assert the_link(again) == the_link(confirmed)
    assert again.calendar()["METHOD"] == "REQUEST"


def test_cancelling_sends_a_calendar_cancellation(client, make_event, register_online, smtp_server, deliver):
    event = make_event()
    register_online(event, "leaving@example.org")
    deliver(smtp_server)
    token = the_link(smtp_server.to("leaving@example.org")[0])

    cancel_online(client, token)

    assert deliver(smtp_server) == (1, 0)
    cancelled = smtp_server.to("leaving@example.org")[-1]
    assert cancelled.subject == f"Cancelled: {event.title}"
    assert the_link(cancelled) == token
    (part,) = cancelled.attachments()
    assert part.get_param("method") == "CANCEL"
    assert part.get_filename() == "cancel.ics"
    calendar = cancelled.calendar()
    assert calendar["METHOD"] == "CANCEL"
    assert vevent(calendar)["UID"] == event.uid
    assert vevent(calendar)["STATUS"] == "CANCELLED"


def test_a_freed_seat_promotes_the_first_in_line(client, make_event, register_online, smtp_server, deliver):
    event = make_event(capacity=1)
    register_online(event, "holder@example.org")
    register_online(event, "waiting@example.org")
    deliver(smtp_server)
    token = the_link(smtp_server.to("holder@example.org")[0])

    cancel_online(client, token)

    assert deliver(smtp_server) == (2, 0)
    promoted = smtp_server.to("waiting@example.org")[-1]
    assert promoted.subject == f"A seat is yours: {event.title}"
    assert "Confirmed" in promoted.text
    assert promoted.calendar()["METHOD"] == "REQUEST"
    assert vevent(promoted.calendar())["UID"] == event.uid


# --- the kinds the back office sends ----------------------------------------------------------


def queue(run, site, kind, registration, event, **extra):
    def _queue(session):
        reg = session.get(Registration, registration.id)
        ev = session.get(type(event), event.id)
        if kind == lostlinks.KIND:
            # Not about one registration: the links of an address's registrations, here one.
            return lostlinks.queue_lost_links(session, site, reg.email, [(reg, ev, None)]).id
        return queue_registration_message(session, site, kind, reg, ev, **extra).id

    return run(_queue)


def _a_session(session, event):
    made = EventSession(
        event_id=event.id, key="ws", title="Workshop <W>", kind=SessionKind.WORKSHOP, starts_at=event.starts_at,
        ends_at=event.ends_at, room="Room 2", choose=True,
    )
    session.add(made)
    session.flush()
    return made


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_both_parts_the_link_and_the_time(kind, run, site, make_event, make_registration, smtp_server, deliver):
    event = make_event(title="A & B")
    status = {"received": S.PENDING, "waitlisted": S.WAITLISTED, "rejected": S.REJECTED, "cancelled": S.CANCELLED}.get(kind, S.CONFIRMED)
    registration = make_registration(event, status=status, name="Bo <Bold>")
    extra = {}
    if kind.startswith("session_"):
        # A message about one of the conference's sessions names it.
        extra["chosen_session"] = run(lambda session: _a_session(session, event))
    queue(run, site, kind, registration, event, **extra)

    assert deliver(smtp_server) == (1, 0)
    (arrival,) = smtp_server.arrivals
    assert arrival.rcpt_tos == [registration.email]
    assert "A & B" in arrival.subject
    assert the_link(arrival) == registration.token
    assert when(event) in arrival.text and when(event) in arrival.html
    assert "Dear Bo <Bold>," in arrival.text
    assert "Dear Bo &lt;Bold&gt;," in arrival.html
    assert arrival.html.lstrip().startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("kind", "status", "extra", "method"),
    [
        ("approved", S.CONFIRMED, {}, "REQUEST"),
        ("approved", S.WAITLISTED, {"position": 4}, None),
        ("rejected", S.REJECTED, {}, None),
        ("rejected", S.REJECTED, {"held_seat": True}, "CANCEL"),
        ("event_changed", S.CONFIRMED, {}, "REQUEST"),
        ("event_changed", S.WAITLISTED, {}, None),
        ("event_changed", S.PENDING, {}, None),
        ("event_cancelled", S.CONFIRMED, {}, "CANCEL"),
        # Never sent the event: nothing in their calendar to cancel.
        ("event_cancelled", S.WAITLISTED, {}, None),
        ("event_cancelled", S.PENDING, {}, None),
        ("cancelled", S.CANCELLED, {"held_seat": False}, None),
        ("cancelled", S.CANCELLED, {"held_seat": True}, "CANCEL"),
        ("waitlisted", S.WAITLISTED, {"position": 1}, None),
        ("received", S.PENDING, {}, None),
    ],
)
def test_the_calendar_file_follows_the_seat(kind, status, extra, method, run, site, make_event, make_registration, smtp_server, deliver):
    event = make_event()
    registration = make_registration(event, status=status, confirmed_at=event.created_at if status == S.CONFIRMED else None)
    queue(run, site, kind, registration, event, **extra)

    deliver(smtp_server)
    (arrival,) = smtp_server.arrivals
    if method is None:
        assert arrival.attachments() == []
    else:
        assert arrival.calendar()["METHOD"] == method
        assert vevent(arrival.calendar())["UID"] == event.uid


def test_leaving_the_waiting_list_sends_no_calendar_cancellation(client, make_event, register_online, smtp_server, deliver):
    event = make_event(capacity=1)
    register_online(event, "seated@example.org")
    register_online(event, "waiting@example.org")
    deliver(smtp_server)
    token = the_link(smtp_server.to("waiting@example.org")[0])
    cancel_online(client, token)
    assert deliver(smtp_server) == (1, 0)
    cancelled = smtp_server.to("waiting@example.org")[-1]
    assert cancelled.subject == f"Cancelled: {event.title}" and cancelled.attachments() == []


def test_a_rejection_after_a_seat_cancels_it(run, site, make_event, make_registration, smtp_server, deliver):
    """Without being told, a rejected registration that was once confirmed had a seat."""
    event = make_event()
    registration = make_registration(event, status=S.REJECTED, confirmed_at=event.created_at)
    queue(run, site, "rejected", registration, event)

    deliver(smtp_server)
    (arrival,) = smtp_server.arrivals
    assert arrival.subject == f"Your application: {event.title}"
    assert arrival.calendar()["METHOD"] == "CANCEL"
    assert "Your seat has been released" in arrival.text


def test_a_changed_event_says_what_changed(run, site, make_event, make_registration, smtp_server, deliver):
    event = make_event(venue="Room 1", address="", timezone="Asia/Singapore")
    registration = make_registration(event)
    previous = {
        "starts_at": event.starts_at - timedelta(days=1), "ends_at": event.ends_at - timedelta(days=1),
        "timezone": event.timezone, "all_day": False, "venue": "Old <hall>", "address": "", "online_url": None,
    }
    queue(run, site, "event_changed", registration, event, previous=previous)

    deliver(smtp_server)
    (arrival,) = smtp_server.arrivals
    assert arrival.subject == f"Changed: {event.title}, {when(event)}"
    old_when = date_range(previous["starts_at"], previous["ends_at"], "Asia/Singapore")
    assert f"When: {when(event)} (was {old_when})" in arrival.text
    assert "Where: Room 1 (was Old <hall>)" in arrival.text
    assert "(was Old &lt;hall&gt;)" in arrival.html
    assert arrival.calendar()["METHOD"] == "REQUEST"


def test_a_cancelled_event_tells_everyone_and_cancels_the_invitation(run, site, make_event, make_registration, smtp_server, deliver):
    event = make_event(status="cancelled")
    registration = make_registration(event)
    queue(run, site, "event_cancelled", registration, event)

    deliver(smtp_server)
    (arrival,) = smtp_server.arrivals
    assert arrival.subject == f"Event cancelled: {event.title}"
    assert "has been cancelled" in arrival.text
    assert "Your status: The event is cancelled" in arrival.text
    component = vevent(arrival.calendar())
    assert component["STATUS"] == "CANCELLED" and component["UID"] == event.uid


def test_an_online_link_goes_only_to_confirmed_participants(run, site, make_event, make_registration, outbox):
    event = make_event(online_url="https://meet.example.org/secret-room")
    confirmed = make_registration(event)
    waiting = make_registration(event, status=S.WAITLISTED)
    queue(run, site, "confirmed", confirmed, event)
    queue(run, site, "waitlisted", waiting, event, position=1)

    to_confirmed, to_waiting = outbox()
    assert "https://meet.example.org/secret-room" in to_confirmed.body_text
    assert "https://meet.example.org/secret-room" in to_confirmed.body_html
    assert "secret-room" not in to_waiting.body_text + to_waiting.body_html


# --- the MIME message ----------------------------------------------------------------------------


def test_the_ics_goes_as_text_calendar_with_its_method_and_exact_bytes():
    ics = "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nX-NOTE:caf\u00e9\r\nEND:VCALENDAR\r\n"
    envelope = Envelope(
        7, "a@example.org", "Subject", "text", "<p>html</p>",
        [{"filename": "cancel.ics", "content_type": "text/calendar; charset=utf-8; method=CANCEL", "content": ics}],
    )
    message = build_message("portal@example.org", envelope)
    (part,) = message.iter_attachments()
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "CANCEL"
    assert part.get_param("charset") == "utf-8"
    assert part.get_filename() == "cancel.ics"
    assert part.get_payload(decode=True) == ics.encode("utf-8")
    assert message.get_body(("plain",)).get_content() == "text\n"
    assert message.get_body(("html",)).get_content() == "<p>html</p>\n"


def test_a_message_row_keeps_its_attachment(run, site, make_event, make_registration, outbox):
    event = make_event()
    registration = make_registration(event)
    queue(run, site, "confirmed", registration, event)
    (message,) = outbox()
    assert isinstance(message, OutboxMessage)
    (attachment,) = message.attachments
    assert attachment["content_type"] == "text/calendar; charset=utf-8; method=REQUEST"
    assert "METHOD:REQUEST\r\n" in attachment["content"]
    assert f"UID:{event.uid}\r\n" in attachment["content"]

"""The ticket in the emails, as the real SMTP server receives them: the confirmation, the
promotion, the approval and the reminders carry the QR code as an inline image the HTML
names by its Content-ID, and the check-in code written out in both parts; emails that give
no seat carry none."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

from portal.db import utcnow
from portal.mail.transports import Envelope, build_message
from portal.models import Admission, Registration
from portal.models import RegistrationStatus as S
from portal.registrations import participants
from portal.registrations.actions import RosterAction, act_on_registrations
from portal.registrations.tickets import display_code, new_code
from tests.mailings.conftest import fan_out, plan  # noqa: F401
from tests.qrcodes import decode_png


def registration_of(run, email):  # type: ignore[no-untyped-def]
    return run(lambda session: session.query(Registration).filter_by(email=email).one())


def inline_images(arrival):  # type: ignore[no-untyped-def]
    """{Content-ID: part} of the images inside the message's multipart/related."""
    return {
        part["Content-ID"]: part for part in arrival.message.walk()
        if part.get_content_maintype() == "image" and part["Content-ID"]
    }


def assert_ticket(arrival, code):  # type: ignore[no-untyped-def]
    """The arrival carries the ticket of `code`: an inline QR image that scans to PTK1:code and
    that the HTML shows by cid, and the code written out in the text and the HTML."""
    images = inline_images(arrival)
    assert set(images) == {"<ticket@portal>"}
    image = images["<ticket@portal>"]
    assert image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    assert decode_png(image.get_content()) == [f"PTK1:{code}"]
    # The image lives beside the HTML, in its multipart/related; the HTML shows it by cid.
    (related,) = [p for p in arrival.message.walk() if p.get_content_type() == "multipart/related"]
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]
    assert 'src="cid:ticket@portal"' in arrival.html
    assert f'alt="QR code of your ticket, check-in code {display_code(code)}"' in arrival.html
    assert f"Check-in code: {display_code(code)}" in arrival.text
    assert display_code(code) in arrival.html
    assert re.search(r"/registrations/[A-Za-z0-9_-]{43}/ticket\r?\n", arrival.text) and "Print your ticket" in arrival.html


def assert_no_ticket(arrival):  # type: ignore[no-untyped-def]
    assert inline_images(arrival) == {}
    assert "cid:" not in arrival.html and "Check-in code" not in arrival.text and "YOUR TICKET" not in arrival.text


def test_the_confirmation_carries_the_ticket_and_still_the_invitation(run, make_event, register_online, smtp_server, deliver):
    event = make_event(title="Port security")
    register_online(event, "ann@example.org")
    code = registration_of(run, "ann@example.org").checkin_code

    assert deliver(smtp_server) == (1, 0)
    (arrival,) = smtp_server.arrivals
    assert arrival.subject == "Confirmed: Port security"
    assert_ticket(arrival, code)
    # The .ics is still the one attachment a mail client lists; the ticket is part of the HTML.
    (ics,) = arrival.attachments()
    assert ics.get_content_type() == "text/calendar" and ics.get_param("method") == "REQUEST"
    assert arrival.calendar().walk("VEVENT")[0]["UID"] == event.uid


def test_waiting_gives_no_ticket_and_the_promotion_brings_it(run, site, client, make_event, register_online, smtp_server, deliver):
    event = make_event(capacity=1, waitlist=True)
    register_online(event, "first@example.org")
    register_online(event, "second@example.org")
    deliver(smtp_server)
    (waitlisted,) = smtp_server.to("second@example.org")
    assert_no_ticket(waitlisted)

    run(participants.cancel, site, registration_of(run, "first@example.org").token)
    deliver(smtp_server)
    (_, promoted) = smtp_server.to("second@example.org")
    assert promoted.subject.startswith("A seat is yours")
    assert_ticket(promoted, registration_of(run, "second@example.org").checkin_code)
    # The cancellation that freed the seat carries no ticket either.
    cancelled = smtp_server.to("first@example.org")[-1]
    assert_no_ticket(cancelled)


def test_an_approval_with_a_seat_carries_the_ticket_one_without_does_not(
    run, site, make_programme, make_event, register_online, make_organiser, smtp_server, deliver
):
    organiser = make_organiser("ruth@example.org")
    event = make_event(capacity=1, programme_id=make_programme(admission=Admission.APPLICATION).id)
    register_online(event, "a@example.org")
    register_online(event, "b@example.org")
    deliver(smtp_server)
    for address in ("a@example.org", "b@example.org"):
        (received,) = smtp_server.to(address)
        assert_no_ticket(received)  # pending: the application is received, no ticket yet

    a, b = registration_of(run, "a@example.org"), registration_of(run, "b@example.org")
    run(act_on_registrations, site, organiser, event.slug, RosterAction.APPROVE, [a.id, b.id])
    deliver(smtp_server)
    assert registration_of(run, "a@example.org").status == S.CONFIRMED
    assert_ticket(smtp_server.to("a@example.org")[-1], registration_of(run, "a@example.org").checkin_code)
    assert registration_of(run, "b@example.org").status == S.WAITLISTED
    assert_no_ticket(smtp_server.to("b@example.org")[-1])


def test_the_reminder_carries_the_ticket(make_event, make_registration, plan, fan_out, smtp_server, deliver):  # noqa: F811
    now = utcnow()
    event = make_event(starts_at=now + timedelta(hours=30), ends_at=now + timedelta(hours=32))
    code = new_code()
    make_registration(event, email="ann@example.org", checkin_code=code, created_at=now - timedelta(days=5))
    make_registration(event, email="wait@example.org", status=S.WAITLISTED, created_at=now - timedelta(days=5))
    plan(now=now)
    fan_out(now=now)
    deliver(smtp_server)

    (reminder,) = smtp_server.arrivals
    assert reminder.rcpt_tos == ["ann@example.org"] and reminder.subject.startswith("Reminder:")
    assert_ticket(reminder, code)
    assert reminder.calendar().walk("VEVENT")[0]["UID"] == event.uid


def test_binary_attachments_and_images_without_an_html_part():
    pdf = b"%PDF-1.7\n\x00\xff binary\n%%EOF"
    envelope = Envelope(
        1, "ann@example.org", "Files", "Text only", "",
        [
            {"filename": "certificate.pdf", "content_type": "application/pdf", "content": base64.b64encode(pdf).decode(), "encoding": "base64"},
            {"filename": "ticket.png", "content_type": "image/png", "qr": "PTK1:7K3QX2M49D", "content_id": "ticket@portal"},
        ],
    )
    message = build_message("portal@example.org", envelope)
    parts = {part.get_filename(): part for part in message.iter_attachments()}
    assert parts["certificate.pdf"].get_content() == pdf
    # With no HTML to show it in, the image is an attachment like any other.
    assert parts["ticket.png"].get_content_disposition() == "attachment"
    assert decode_png(parts["ticket.png"].get_content()) == ["PTK1:7K3QX2M49D"]

"""The ticket on the participant's pages: on the manage page once confirmed (a QR code that
scans to the check-in code), and as a printable page; private, and nobody else's."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from portal.documents import qr
from portal.models import Admission, EventStatus, Registration
from portal.models import RegistrationStatus as S
from portal.registrations.tickets import display_code, new_code, payload
from portal.templating import date_range
from tests.conftest import csrf_from
from tests.qrcodes import decode, decode_png, svg_image

PRIVATE = {"cache-control": "no-store", "x-robots-tag": "noindex, nofollow"}


@pytest.fixture
def register_online(client, sessions):  # type: ignore[no-untyped-def]
    """register_online(event, email, name=..., organisation=...): the public form, sent;
    returns the registration as stored."""

    def _register(event, email, name="Ann Lee", organisation=""):  # type: ignore[no-untyped-def]
        page = client.get(f"/events/{event.slug}/register")
        data = {"csrf_token": csrf_from(page.text), "name": name, "email": email, "organisation": organisation, "consent": "y"}
        response = client.post(f"/events/{event.slug}/register", data=data)
        assert response.status_code == 303, response.text[:500]
        with sessions() as session:
            return session.scalars(select(Registration).where(Registration.email == email)).one()

    return _register


def the_svg(html: str) -> str:
    (svg,) = re.findall(r'<svg role="img".*?</svg>', html, re.DOTALL)
    return svg


def assert_private(response) -> None:  # type: ignore[no-untyped-def]
    for name, value in PRIVATE.items():
        assert response.headers[name] == value, name


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_confirmed_registration_s_manage_page_shows_a_ticket_that_scans_to_its_code(client, make_event, register_online):
    event = make_event(title="Maritime security & law", timezone="Europe/London")
    registration = register_online(event, "ann@example.org", name="Ann Lee", organisation="MPA")

    page = client.get(f"/registrations/{registration.token}")
    assert page.status_code == 200
    assert_private(page)
    (panel,) = re.findall(r'<section class="ticket-panel".*?</section>', page.text, re.DOTALL)
    shown = text_of(panel)
    assert "Your ticket" in shown
    assert f"Check-in code: {display_code(registration.checkin_code)}" in shown
    assert "Ann Lee , MPA" in shown and "Maritime security & law" in shown
    # The dates in the event's own zone, named.
    assert date_range(event.starts_at, event.ends_at, "Europe/London") in shown and "(Europe/London)" in shown
    # The QR code on the page, drawn and read back as a camera would, holds the check-in code
    # and nothing of the private link.
    svg = the_svg(page.text)
    assert 'aria-label="QR code of your ticket' in svg and "<title>" in svg
    assert decode(svg_image(svg)) == [f"PTK1:{registration.checkin_code}"]
    assert registration.token not in svg
    # The PNG the emails carry, drawn from the same payload, reads the same.
    assert decode_png(qr.png(payload(registration.checkin_code), 8)) == [f"PTK1:{registration.checkin_code}"]
    assert f'href="http://testserver/registrations/{registration.token}/ticket"' in page.text
    assert "Print your ticket" in page.text


def test_the_printable_ticket_is_one_clean_private_page(client, make_event, register_online):
    event = make_event(title="Counter-terrorism week", venue="RSIS, Block S4", address="50 Nanyang Avenue")
    registration = register_online(event, "ann@example.org", name="Ann Lee", organisation="MPA")

    page = client.get(f"/registrations/{registration.token}/ticket")
    assert page.status_code == 200
    assert_private(page)
    shown = text_of(page.text)
    for words in ("Counter-terrorism week", "Ann Lee", "MPA", "RSIS, Block S4, 50 Nanyang Avenue",
                  date_range(event.starts_at, event.ends_at, event.timezone), display_code(registration.checkin_code)):
        assert words in shown, words
    assert decode(svg_image(the_svg(page.text))) == [f"PTK1:{registration.checkin_code}"]
    # No site navigation or footer: a ticket, the print styles, and a way back.
    assert "<nav" not in page.text and "Organisers: sign in" not in page.text and "Subscribe by email" not in page.text
    assert "/static/css/ticket.css" in page.text and "pico" not in page.text
    assert f'href="http://testserver/registrations/{registration.token}"' in page.text
    assert '<meta name="robots" content="noindex, nofollow">' in page.text
    # A Print button, shown by a script of its own (no inline script), not printed itself.
    assert re.search(r'<div class="no-print[^"]*">\s*<p><button type="button" data-print hidden>Print this ticket</button>', page.text)
    assert '<script src="http://testserver/static/js/print.js" defer></script>' in page.text
    assert "<script>" not in page.text and "onclick" not in page.text
    assert "window.print()" in client.get("/static/js/print.js").text


def test_a_waitlisted_or_pending_registration_has_no_ticket_until_it_is_confirmed(client, make_event, make_programme, register_online):
    full = make_event(capacity=1, waitlist=True, title="Full seminar")
    register_online(full, "first@example.org")
    waiting = register_online(full, "second@example.org")
    application = make_event(programme_id=make_programme(admission=Admission.APPLICATION).id, title="By application")
    pending = register_online(application, "applicant@example.org")

    for registration, why in ((waiting, "You are on the waiting list for Full seminar, position 1."),
                              (pending, "Your application for By application is being reviewed.")):
        assert registration.checkin_code is None
        manage = client.get(f"/registrations/{registration.token}")
        assert "Your ticket comes when your registration is confirmed" in text_of(manage.text)
        assert "<svg" not in manage.text and "/ticket" not in manage.text
        page = client.get(f"/registrations/{registration.token}/ticket")
        assert page.status_code == 404
        assert_private(page)
        assert why in text_of(page.text)
        assert "<svg" not in page.text


def test_a_cancelled_registration_or_event_shows_no_ticket(client, run, make_event, make_registration):
    event = make_event()
    cancelled = make_registration(event, status=S.CANCELLED, checkin_code=new_code())
    for registration, why in ((cancelled, "is cancelled, so it has no ticket"),):
        assert "Your ticket" not in client.get(f"/registrations/{registration.token}").text
        page = client.get(f"/registrations/{registration.token}/ticket")
        assert page.status_code == 404 and why in text_of(page.text)

    called_off = make_event(status=EventStatus.CANCELLED)
    confirmed = make_registration(called_off, checkin_code=new_code())
    assert "<svg" not in client.get(f"/registrations/{confirmed.token}").text
    page = client.get(f"/registrations/{confirmed.token}/ticket")
    assert page.status_code == 404 and "cancelled" in text_of(page.text)


def test_the_ticket_page_opens_only_with_the_private_link(client, make_event, register_online):
    event = make_event()
    registration = register_online(event, "ann@example.org")
    code = registration.checkin_code
    # The check-in code, however written, opens nothing: it only admits at the door.
    for guess in (code, display_code(code), payload(code), "x" * 43, "nothing"):
        for path in (f"/registrations/{guess}/ticket", f"/registrations/{guess}"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert code not in response.text and "Ann Lee" not in response.text


def test_hostile_names_are_text_on_the_ticket(client, make_event, register_online):
    event = make_event(title="<img src=x onerror=alert(1)>")
    registration = register_online(event, "eve@example.org", name="<script>alert(1)</script>", organisation='"><b>x</b>')
    for path in (f"/registrations/{registration.token}", f"/registrations/{registration.token}/ticket"):
        html = client.get(path).text
        assert "<script>alert(1)</script>" not in html and "<b>x</b>" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

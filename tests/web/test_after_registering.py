"""What a participant is told after registering (the same page whether or not the address was
registered already) and after cancelling (the way back in while registration is open)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.db import utcnow
from portal.models import Admission, EventStatus, Registration, RegistrationStatus
from tests.conftest import BASE_URL, csrf_from

S = RegistrationStatus
VALID = {"name": "Ann Lee", "email": "ann@example.org", "organisation": "", "consent": "y"}


@pytest.fixture
def register(app):  # type: ignore[no-untyped-def]
    """register(event, **fields): in a browser of its own, send the form and follow the
    redirect; (the POST's response, the page after it)."""

    def _register(event, **fields):  # type: ignore[no-untyped-def]
        with TestClient(app, base_url=BASE_URL, follow_redirects=False) as browser:
            form = browser.get(f"/events/{event.slug}/register")
            sent = browser.post(f"/events/{event.slug}/register", data={**VALID, **fields, "csrf_token": csrf_from(form.text)})
            assert sent.status_code == 303, sent.text[:500]
            return sent, browser.get(sent.headers["location"])

    return _register


def words(html: str) -> str:
    """The page's text as a reader meets it: tags gone, spaces collapsed, none before a stop."""
    return re.sub(r" ([.,:;)])", r"\1", " ".join(re.sub(r"<[^>]+>", " ", html).split()))


def test_an_open_event_says_what_comes_next_where_and_when(register, make_event):
    event = make_event(title="Maritime security")
    _, page = register(event, email="Ann.Lee@Example.org")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = words(page.text)
    assert "We have received your registration for Maritime security" in text
    assert "We are sending an email to Ann.Lee@Example.org. It should arrive within a few minutes." in text
    assert "a confirmed seat or a place on the waiting list" in text
    assert "Look in your spam or junk folder." in text
    assert f'href="{BASE_URL}/registrations/lost"' in page.text
    assert "waiting list." not in text and "under review" not in text


def test_a_full_event_with_a_waiting_list_says_new_registrations_join_it(register, make_event, make_registration):
    event = make_event(capacity=1, waitlist=True)
    make_registration(event)
    _, page = register(event)
    assert "This event is full, so new registrations join its waiting list." in words(page.text)


def test_an_event_with_seats_left_says_nothing_of_a_waiting_list(register, make_event):
    # The last seat taken by this very registration: the page reads the event as it is now.
    event = make_event(capacity=2, waitlist=True)
    _, page = register(event)
    assert "join its waiting list" not in page.text


@pytest.mark.parametrize(("admission", "noun"), [(Admission.APPLICATION, "application"), (Admission.NOMINATION, "nomination")])
def test_an_application_programme_says_it_is_under_review(admission, noun, register, make_programme, make_event, make_registration):
    programme = make_programme(admission=admission)
    event = make_event(programme_id=programme.id, capacity=1)
    make_registration(event)  # full: applications are reviewed all the same, not waitlisted
    _, page = register(event)
    text = words(page.text)
    assert "We have received your application for" in text
    assert f"Your {noun} is now under review" in text
    assert "join its waiting list" not in text


def test_the_page_is_the_same_for_a_new_and_a_repeated_registration(register, make_event, sessions, outbox):
    event = make_event(capacity=1, waitlist=True)
    new_post, new_page = register(event, email="ann@example.org")
    again_post, again_page = register(event, email="ann@example.org")
    with sessions() as session:
        (row,) = session.scalars(select(Registration).where(Registration.event_id == event.id)).all()
    assert [m.kind for m in outbox()] == ["confirmed", "already_registered"]

    strip = re.compile(r'name="csrf_token" value="[^"]*"|nonce="[^"]*"')
    assert new_post.headers["location"] == again_post.headers["location"]
    assert new_page.status_code == again_page.status_code == 200
    assert strip.sub("", new_page.text).encode() == strip.sub("", again_page.text).encode()
    assert "ann@example.org" in new_page.text
    # The private link is nowhere on the way: not in the redirect, its cookie or the page.
    for response in (new_post, again_post, new_page, again_page):
        assert row.token not in response.headers.get("location", "") + response.headers.get("set-cookie", "") + response.text


def test_a_honeypot_bot_gets_the_page_without_an_address(app, make_event):
    event = make_event()
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as bot:
        form = bot.get(f"/events/{event.slug}/register")
        sent = bot.post(f"/events/{event.slug}/register", data={**VALID, "website": "x", "csrf_token": csrf_from(form.text)})
        page = bot.get(sent.headers["location"])
    assert "ann@example.org" not in page.text and "the address you gave" in page.text


# --- after cancelling -----------------------------------------------------------------------


def cancel(client, token):  # type: ignore[no-untyped-def]
    page = client.get(f"/registrations/{token}/cancel")
    response = client.post(f"/registrations/{token}/cancel", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 303
    return client.get(response.headers["location"])


def test_after_cancelling_while_registration_is_open_it_offers_to_register_again(client, make_event, make_registration, sessions):
    event = make_event(title="Cyber norms")
    registration = make_registration(event, email="ann@example.org")
    page = cancel(client, registration.token)
    text = words(page.text)
    assert "Your registration is cancelled" in text and "Registration for this event is still open" in text
    assert f'href="{BASE_URL}/events/{event.slug}/register">Register again for this event</a>' in page.text

    # And registering again works: a new registration, confirmed.
    form = client.get(f"/events/{event.slug}/register")
    sent = client.post(f"/events/{event.slug}/register", data={**VALID, "csrf_token": csrf_from(form.text)})
    assert sent.status_code == 303
    with sessions() as session:
        statuses = session.scalars(select(Registration.status).where(Registration.event_id == event.id).order_by(Registration.id)).all()
    assert statuses == [S.CANCELLED, S.CONFIRMED]


def test_after_cancelling_a_full_event_says_a_new_registration_waits(client, make_event, make_registration):
    event = make_event(capacity=1, waitlist=True)
    registration = make_registration(event, status=S.CANCELLED)
    make_registration(event)
    text = words(client.get(f"/registrations/{registration.token}").text)
    assert "it is full: a new registration joins the waiting list" in text


def test_after_cancelling_when_registration_has_closed_it_says_so(client, make_event, make_registration):
    event = make_event(registration_closes_at=utcnow() - timedelta(hours=1))
    registration = make_registration(event, status=S.CANCELLED)
    page = client.get(f"/registrations/{registration.token}")
    text = words(page.text)
    assert "Your registration is cancelled" in text
    assert "Registration for this event is closed, so you cannot register again." in text
    assert "Register again" not in text and f"/events/{event.slug}/register" not in page.text


def test_before_registration_opens_it_says_when(client, make_event, make_registration):
    event = make_event(registration_opens_at=utcnow() + timedelta(days=2))
    registration = make_registration(event, status=S.CANCELLED)
    text = words(client.get(f"/registrations/{registration.token}").text)
    assert "Registration for this event is not open at the moment: it opens" in text and "(Asia/Singapore, UTC+08)" in text


def test_an_active_registration_is_not_offered_to_register_again(client, make_event, make_registration):
    registration = make_registration(make_event())
    assert "Register again" not in client.get(f"/registrations/{registration.token}").text


def test_after_the_organisers_cancel_the_event_it_offers_nothing(client, make_event, make_registration):
    event = make_event(status=EventStatus.CANCELLED)
    registration = make_registration(event, status=S.CANCELLED)
    page = client.get(f"/registrations/{registration.token}")
    assert "The organisers have cancelled the event, so it takes no registrations." in words(page.text)
    assert f"/events/{event.slug}/register" not in page.text

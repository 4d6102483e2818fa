"""'Lost your link?': an address in, one email with the links of its registrations for events
to come out; the same page whether or not the address is known; throttled; CSRF-protected."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.db import utcnow
from portal.models import EventStatus, Registration, RegistrationStatus
from portal.questions.schema import parse_form
from portal.registrations import lostlinks
from portal.registrations.anonymise import anonymise
from portal.registrations.limits import RegistrationLimits
from portal.site import Site
from portal.templating import date_range
from tests.conftest import BASE_URL, csrf_from

S = RegistrationStatus
# The manage links (a link to a registration's data page goes on with /data).
LINKS = re.compile(re.escape(BASE_URL) + r"/registrations/([A-Za-z0-9_\-]{40,})(?![\w/-])")


@pytest.fixture
def ask(client):  # type: ignore[no-untyped-def]
    """ask(email, with_client=None): load the form and send it; the response to the POST."""

    def _ask(email, *, with_client=None, **fields):  # type: ignore[no-untyped-def]
        c = with_client or client
        page = c.get("/registrations/lost")
        assert page.status_code == 200
        return c.post("/registrations/lost", data={"csrf_token": csrf_from(page.text), "email": email, **fields})

    return _ask


def lost_links(outbox):  # type: ignore[no-untyped-def]
    return [m for m in outbox() if m.kind == "lost_links"]


def test_a_known_address_gets_one_email_with_each_link(client, ask, make_event, make_registration, outbox):
    soon = make_event(title="Maritime <security>", timezone="Europe/London")
    later = make_event(title="Cyber norms", starts_at=soon.starts_at + timedelta(days=3), ends_at=soon.ends_at + timedelta(days=3))
    over = make_event(title="Last year's forum", starts_at=utcnow() - timedelta(days=10), ends_at=utcnow() - timedelta(days=9))
    first = make_registration(soon, email="ann@example.org", name="Ann Lee")
    waiting = make_registration(later, email="ann@example.org", name="Ann Lee", status=S.WAITLISTED)
    make_registration(over, email="ann@example.org", name="Ann Lee")
    someone_else = make_registration(soon, email="bo@example.org")

    response = ask(" Ann@Example.org ")
    assert response.status_code == 303 and response.headers["location"] == f"{BASE_URL}/registrations/lost/sent"

    (message,) = lost_links(outbox)
    assert message.to_address == "ann@example.org"
    assert message.subject == "Your registration links: 2 events"
    # Each link once, in both parts, soonest event first; none of another address's, none for an event that ended.
    assert LINKS.findall(message.body_text) == [first.token, waiting.token]
    assert set(LINKS.findall(message.body_html)) == {first.token, waiting.token}
    assert someone_else.token not in message.body_text + message.body_html
    # And each registration's "your data" page, to download, correct or erase.
    for token in (first.token, waiting.token):
        assert f"{BASE_URL}/registrations/{token}/data" in message.body_text
        assert f'href="{BASE_URL}/registrations/{token}/data"' in message.body_html
    assert "Last year" not in message.body_text
    # Title, time in the event's zone with the zone named, and status, for each.
    assert date_range(soon.starts_at, soon.ends_at, "Europe/London") in message.body_text
    assert "(Europe/London)" in message.body_text
    assert "Maritime <security>" in message.body_text and "Maritime &lt;security&gt;" in message.body_html
    assert "Confirmed: you have a seat" in message.body_text
    assert "On the waiting list, position 1" in message.body_text
    assert "Dear Ann Lee," in message.body_text

    page = client.get(response.headers["location"])
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Ann@Example.org" in page.text and "within a few minutes" in page.text and "spam" in page.text


def test_an_unknown_address_gets_nothing_and_the_same_page(app, ask, make_event, make_registration, outbox):
    event = make_event()
    make_registration(event, email="known@example.org")
    over = make_event(starts_at=utcnow() - timedelta(days=3), ends_at=utcnow() - timedelta(days=2))
    make_registration(over, email="past@example.org")
    pages = []
    for email in ("known@example.org", "nobody@example.org", "past@example.org"):
        with TestClient(app, base_url=BASE_URL, follow_redirects=False) as browser:
            response = ask(email, with_client=browser)
            assert response.status_code == 303
            page = browser.get(response.headers["location"])
            assert page.status_code == 200
            pages.append(page.text.replace(email, "@"))
    assert pages[0] == pages[1] == pages[2]
    # The past address holds data still: it gets the way to it (and nothing else).
    assert [m.to_address for m in lost_links(outbox)] == ["known@example.org", "past@example.org"]


def test_an_address_with_only_past_registrations_gets_the_link_to_its_data(ask, client, run, make_event, make_registration, outbox):
    over = make_event(title="Past Seminar", starts_at=utcnow() - timedelta(days=30), ends_at=utcnow() - timedelta(days=29))
    registration = make_registration(over, email="past@example.org", name="Ada")
    gone = make_registration(over, email="gone@example.org")
    run(lambda session: anonymise(session, session.get_one(Registration, gone.id), parse_form([])))

    ask("past@example.org")
    ask("gone@example.org")
    [mail] = lost_links(outbox)
    assert mail.to_address == "past@example.org" and mail.subject == "Your data on the portal"
    data_url = f"{BASE_URL}/registrations/{registration.token}/data"
    assert data_url in mail.body_text and data_url in mail.body_html
    assert f"/registrations/{registration.token}\n" not in mail.body_text  # no manage link listed
    page = client.get(f"/registrations/{registration.token}/data")
    assert page.status_code == 200 and "Past Seminar" in page.text


def test_the_email_lists_only_that_addresses_registrations(run, make_event, make_registration, outbox):
    event = make_event(title="Shared seminar")
    cancelled_event = make_event(title="Called off", status=EventStatus.CANCELLED)
    mine = make_registration(event, email="ann@example.org", name="Ann")
    mine_cancelled = make_registration(cancelled_event, email="ann@example.org", name="Ann", status=S.CANCELLED)
    theirs = [make_registration(event, email=f"other{i}@example.org") for i in range(3)]
    make_registration(event, email="ann@example.org.evil", name="Not Ann")

    run(lostlinks.send_lost_links, Site(base_url=BASE_URL), "ann@example.org", client="10.0.0.1", limits=RegistrationLimits(0, 0))

    (message,) = lost_links(outbox)
    assert sorted(LINKS.findall(message.body_text)) == sorted([mine.token, mine_cancelled.token])
    assert all(r.token not in message.body_text + message.body_html for r in theirs)
    assert "The event is cancelled" in message.body_text and "Not Ann" not in message.body_text


def test_one_registration_is_named_in_the_subject(ask, make_event, make_registration, outbox):
    event = make_event(title="Book launch: A & B")
    make_registration(event, email="ann@example.org")
    assert ask("ann@example.org").status_code == 303
    (message,) = lost_links(outbox)
    assert message.subject == "Your registration link: Book launch: A & B"


def test_too_many_requests_answer_429_with_a_clear_message(settings, make_event, make_registration, outbox):
    make_registration(make_event(), email="ann@example.org")
    app = create_app(dataclasses.replace(settings, registrations_per_email_per_minute=1))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as browser:
        for expected in (303, 429):
            page = browser.get("/registrations/lost")
            response = browser.post("/registrations/lost", data={"csrf_token": csrf_from(page.text), "email": "ann@example.org"})
            assert response.status_code == expected
    assert "Several requests for this email address" in response.text and "Nothing was sent" in response.text
    assert re.search(r"please send the form again in \d+ seconds", response.text)
    assert 'value="ann@example.org"' in response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert len(lost_links(outbox)) == 1


def test_too_many_requests_from_one_network_answer_429(settings, make_event, outbox):
    app = create_app(dataclasses.replace(settings, registrations_per_ip_per_minute=2))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as browser:
        statuses = []
        for n in range(3):
            page = browser.get("/registrations/lost")
            statuses.append(browser.post("/registrations/lost", data={"csrf_token": csrf_from(page.text), "email": f"p{n}@example.org"}).status_code)
        assert statuses == [303, 303, 429]


def test_an_address_gets_at_most_a_few_such_emails_a_day(run, make_event, make_registration, outbox):
    make_registration(make_event(), email="ann@example.org")
    for _ in range(lostlinks.EMAILS_A_DAY + 2):
        run(lostlinks.send_lost_links, Site(base_url=BASE_URL), "ann@example.org", client="10.0.0.1", limits=RegistrationLimits(0, 0))
    assert len(lost_links(outbox)) == lostlinks.EMAILS_A_DAY
    # A day later the address may ask again.
    later = utcnow() + timedelta(days=1, minutes=1)
    run(lostlinks.send_lost_links, Site(base_url=BASE_URL), "ann@example.org", client="10.0.0.1", limits=RegistrationLimits(0, 0), now=later)
    assert len(lost_links(outbox)) == lostlinks.EMAILS_A_DAY + 1


@pytest.mark.parametrize("email", ["", "not an address", "ann@example.org\r\nBcc: x@example.org", "a" * 250 + "@example.org"])
def test_bad_input_comes_back_with_422_and_a_message(ask, email, make_event, make_registration, outbox):
    make_registration(make_event(), email="ann@example.org")
    response = ask(email)
    assert response.status_code == 422
    assert 'class="field-error"' in response.text and "Please correct" in response.text
    assert lost_links(outbox) == []


def test_a_bot_filling_the_trap_is_told_it_worked_and_nothing_is_sent(ask, make_event, make_registration, outbox):
    make_registration(make_event(), email="ann@example.org")
    response = ask("ann@example.org", website="http://spam.example")
    assert response.status_code == 303 and response.headers["location"].endswith("/registrations/lost/sent")
    assert lost_links(outbox) == []


def test_the_form_needs_its_csrf_token(app, client, make_event, make_registration, outbox):
    make_registration(make_event(), email="ann@example.org")
    client.get("/registrations/lost")  # a cookie, so only the token is missing
    assert client.post("/registrations/lost", data={"email": "ann@example.org"}).status_code == 403
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as stranger:
        assert stranger.post("/registrations/lost", data={"email": "ann@example.org", "csrf_token": "forged"}).status_code == 403
    assert lost_links(outbox) == []


def test_the_event_page_and_the_form_link_to_it(client, make_event):
    event = make_event()
    for path in (f"/events/{event.slug}", f"/events/{event.slug}/register"):
        assert f'href="{BASE_URL}/registrations/lost">Lost your link?</a>' in client.get(path).text


def test_the_sent_page_shows_no_address_it_was_not_given(client):
    # A cookie the portal did not sign (set by another site on the same domain, say) shows nothing.
    client.cookies.set("portal_sent_to", "ann@example.org")
    page = client.get("/registrations/lost/sent")
    assert page.status_code == 200
    assert "ann@example.org" not in page.text and "the address you gave" in page.text

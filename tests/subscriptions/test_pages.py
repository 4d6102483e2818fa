"""The subscription pages through the client, as a visitor and a mail provider use them: the
form and its errors, the same answer for a known and an unknown address, confirming and
leaving only by POST, RFC 8058's one-click POST without cookie or token, private pages."""

from __future__ import annotations

import dataclasses
import re

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import EventStatus, Frequency
from portal.subscriptions import service
from tests.conftest import BASE_URL, csrf_from

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def stranger(app):
    """A client that never loaded a page: no cookie at all, as a mail provider posts."""
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as c:
        yield c


@pytest.fixture
def subscribed(ask, run, subscribers):
    """subscribed(email, confirmed=True, **choices): a subscriber made through the service; its token."""

    def _make(email="ann@example.org", *, confirmed=True, **choices):
        ask(email, **choices)
        (subscriber,) = [s for s in subscribers() if s.email == email]
        if confirmed:
            run(service.confirm, subscriber.token)
        return subscriber.token

    return _make


def _private(response):
    assert response.headers["cache-control"] == "no-store"
    assert "noindex" in response.headers["x-robots-tag"]


def _checked(page, value):
    """Whether the checkbox or radio with this value is ticked."""
    match = re.search(r'<input[^>]*value="' + re.escape(value) + r'"[^>]*>', page)
    assert match, f"no input with value {value!r}"
    return " checked" in match.group(0)


# --- the form ---------------------------------------------------------------------------------


def test_the_form_offers_programmes_categories_and_the_digest_day(app, client, make_programme, make_event):
    make_programme(code="tatc", name="Terrorism Analyst Training Course")
    make_event(category="book-launch")
    make_event(category="hidden-category", status=EventStatus.DRAFT)
    app.state.settings = dataclasses.replace(app.state.settings, digest_weekday=3)

    page = client.get("/subscribe?programme=tatc&category=book-launch")
    assert page.status_code == 200
    assert '<label for="email">Email address' in page.text
    assert "Terrorism Analyst Training Course" in page.text and "Book launch" in page.text
    assert "hidden-category" not in page.text
    assert "A weekly digest, on Thursdays" in page.text
    # Carried from the listing's filters.
    assert _checked(page.text, "tatc") and _checked(page.text, "book-launch") and _checked(page.text, "each")
    assert not _checked(client.get("/subscribe").text, "tatc")


def test_a_refused_form_comes_back_as_typed_with_422(client, subscribe_online, subscribers, outbox, make_programme):
    make_programme(code="tatc", name="TATC")
    response = subscribe_online("ann@example", programmes=["tatc"], frequency="weekly")
    assert response.status_code == 422
    assert 'value="ann@example"' in response.text
    assert "Enter a complete email address, like name@example.org." in response.text
    assert 'href="#email"' in response.text  # the summary leads to the field
    assert _checked(response.text, "tatc") and _checked(response.text, "weekly") and not _checked(response.text, "each")
    assert subscribers() == [] and outbox() == []

    # A programme the page did not offer (gone since, or made up).
    response = subscribe_online("ann@example.org", programmes=["tatc", "<b>nope</b>"])
    assert response.status_code == 422
    assert "Choose from the programmes listed." in response.text
    assert "<b>nope</b>" not in response.text
    assert subscribers() == []


@pytest.mark.parametrize("email", ["ann@example.org\r\nBcc: eve@example.org", "ann@example.org\nTo: eve@example.org", "ann@example.org%0ABcc:eve@example.org"])
def test_header_injection_through_the_address_is_refused(subscribe_online, subscribers, outbox, email):
    response = subscribe_online(email)
    assert response.status_code == 422
    assert subscribers() == [] and outbox() == []


def test_the_same_answer_for_a_new_and_a_subscribed_address(client, subscribe_online, subscribed, outbox):
    subscribed("known@example.org")
    sent_before = len(outbox())
    new = subscribe_online("new@example.org")
    known = subscribe_online("Known@Example.org")
    assert new.status_code == known.status_code == 303
    assert new.headers["location"] == known.headers["location"] == f"{BASE_URL}/subscribe/sent"
    after_new, after_known = client.get(new.headers["location"]), client.get(known.headers["location"])
    assert after_new.status_code == after_known.status_code == 200
    assert after_new.text == after_known.text
    assert "Check your inbox" in after_new.text and "spam" in after_new.text
    # Each address got one email; what it says differs, but only its owner reads it.
    assert [(m.to_address, m.kind) for m in outbox()[sent_before:]] == [
        ("new@example.org", "subscribe_confirm"), ("known@example.org", "subscription_known"),
    ]


def test_too_many_requests_brings_the_form_back_with_429(settings, subscribers):
    app = create_app(dataclasses.replace(settings, registrations_per_email_per_minute=1))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as browser:
        for expected in (303, 429):
            page = browser.get("/subscribe")
            response = browser.post("/subscribe", data={"csrf_token": csrf_from(page.text), "email": "ann@example.org", "frequency": "weekly"})
            assert response.status_code == expected
    assert "Nothing was sent" in response.text and 'value="ann@example.org"' in response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert len(subscribers()) == 1


def test_a_bot_filling_the_trap_is_told_it_worked_and_nothing_is_kept(client, subscribers, outbox):
    page = client.get("/subscribe")
    response = client.post("/subscribe", data={"csrf_token": csrf_from(page.text), "email": "bot@example.org", "frequency": "each", "website": "x"})
    assert response.status_code == 303 and response.headers["location"].endswith("/subscribe/sent")
    assert subscribers() == [] and outbox() == []


def test_the_form_needs_its_csrf_token(stranger, subscribers):
    assert stranger.post("/subscribe", data={"email": "ann@example.org", "frequency": "each"}).status_code == 403
    assert subscribers() == []


# --- confirming -------------------------------------------------------------------------------


def test_confirming_takes_a_post_not_the_link_alone(client, subscribed, subscribers):
    token = subscribed(confirmed=False)
    page = client.get(f"/subscribe/confirm/{token}")
    assert page.status_code == 200
    _private(page)
    assert "Confirm my subscription</button>" in page.text
    # A mail filter fetching the link (or HEAD) confirmed nothing.
    client.head(f"/subscribe/confirm/{token}")
    assert subscribers()[0].confirmed_at is None

    assert client.post(f"/subscribe/confirm/{token}", data={}).status_code == 403
    assert subscribers()[0].confirmed_at is None

    done = client.post(f"/subscribe/confirm/{token}", data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 303
    assert done.headers["location"] == f"{BASE_URL}/subscribe/{token}?confirmed=1"
    assert subscribers()[0].confirmed_at is not None
    landing = client.get(done.headers["location"])
    assert "your subscription is confirmed" in landing.text
    # The confirmation link, opened again, says so and leads to the preferences.
    again = client.get(f"/subscribe/confirm/{token}")
    assert "confirmed already" in again.text and f"/subscribe/{token}" in again.text


# --- preferences ------------------------------------------------------------------------------


def test_preferences_show_the_choices_and_save_changes(client, subscribed, subscribers, make_programme, make_event):
    make_programme(code="tatc", name="TATC")
    make_programme(code="iccs", name="ICCS")
    make_event(category="seminar")
    token = subscribed(programmes=["tatc"])
    page = client.get(f"/subscribe/{token}")
    assert page.status_code == 200
    _private(page)
    assert "ann@example.org" in page.text
    assert _checked(page.text, "tatc") and not _checked(page.text, "iccs") and _checked(page.text, "each")

    csrf = csrf_from(page.text)
    saved = client.post(f"/subscribe/{token}", data={"csrf_token": csrf, "programmes": ["iccs"], "categories": ["seminar"], "frequency": "weekly"})
    assert saved.status_code == 303 and saved.headers["location"].endswith(f"/subscribe/{token}?saved=1")
    (subscriber,) = subscribers()
    assert (subscriber.programmes, subscriber.categories, subscriber.frequency) == (["iccs"], ["seminar"], Frequency.WEEKLY)
    assert "Your choices are saved." in client.get(saved.headers["location"]).text

    refused = client.post(f"/subscribe/{token}", data={"csrf_token": csrf, "programmes": ["gone"], "frequency": "each"})
    assert refused.status_code == 422
    assert "Choose from the programmes listed." in refused.text
    assert subscribers()[0].programmes == ["iccs"]
    assert client.post(f"/subscribe/{token}", data={"programmes": ["tatc"], "frequency": "each"}).status_code == 403


# --- leaving ----------------------------------------------------------------------------------


def test_the_leave_link_opened_unsubscribes_no_one(client, subscribed, subscribers):
    token = subscribed()
    page = client.get(f"/subscribe/{token}/leave")
    assert page.status_code == 200
    _private(page)
    assert "Unsubscribe</button>" in page.text
    client.head(f"/subscribe/{token}/leave")
    assert len(subscribers()) == 1


def test_the_leave_page_names_the_address_that_leaves(client, subscribed):
    # It is the subscriber's own private page: whoever shares a mailbox sees which address it is.
    token = subscribed("kim.lee@example.org")
    page = client.get(f"/subscribe/{token}/leave")
    assert "stop all email about new events to <strong>kim.lee@example.org</strong>" in page.text


def test_the_pages_button_unsubscribes(client, subscribed, subscribers):
    token = subscribed()
    page = client.get(f"/subscribe/{token}")
    left = client.post(f"/subscribe/{token}/leave", data={"csrf_token": csrf_from(page.text)})
    assert left.status_code == 200
    _private(left)
    assert "You have left" in left.text
    assert subscribers() == []
    # The link is spent: it says so, and a second press finds nothing to leave.
    gone = client.get(f"/subscribe/{token}")
    assert gone.status_code == 404 and "no longer valid" in gone.text
    assert client.post(f"/subscribe/{token}/leave", data={"csrf_token": csrf_from(page.text)}).status_code == 404


@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_rfc_8058_one_click_post_unsubscribes_without_cookie_or_token(stranger, subscribed, subscribers, multipart):
    token = subscribed()
    keep = subscribed("bob@example.org")
    assert not stranger.cookies
    if multipart:
        # A multipart body of the one field, as some providers send it.
        response = stranger.post(f"/subscribe/{token}/leave", files={"List-Unsubscribe": (None, "One-Click")})
        assert response.request.headers["content-type"].startswith("multipart/form-data")
    else:
        response = stranger.post(f"/subscribe/{token}/leave", data=ONE_CLICK)
        assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "cookie" not in response.request.headers
    assert response.status_code == 200
    _private(response)
    assert "You have left" in response.text
    assert [s.token for s in subscribers()] == [keep]
    # A provider's retry, or a second click: gone already, still 200.
    assert stranger.post(f"/subscribe/{token}/leave", data=ONE_CLICK).status_code == 200
    assert stranger.post("/subscribe/" + "x" * 43 + "/leave", data=ONE_CLICK).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"List-Unsubscribe": "one-click"},
        {"List-Unsubscribe": "One-Click", "also": "this"},
        {"Unsubscribe": "One-Click"},
    ],
)
def test_any_other_post_to_the_leave_link_needs_the_csrf_token(stranger, subscribed, subscribers, body):
    token = subscribed()
    assert stranger.post(f"/subscribe/{token}/leave", data=body).status_code == 403
    assert len(subscribers()) == 1


def test_the_one_click_field_sent_as_a_query_or_json_is_not_one_click(stranger, subscribed, subscribers):
    token = subscribed()
    assert stranger.post(f"/subscribe/{token}/leave?List-Unsubscribe=One-Click").status_code == 403
    assert stranger.post(f"/subscribe/{token}/leave", json=ONE_CLICK).status_code == 403
    assert len(subscribers()) == 1


# --- links that open nothing, and where the pages are linked from -----------------------------


@pytest.mark.parametrize("path", ["/subscribe/{t}", "/subscribe/confirm/{t}", "/subscribe/{t}/leave"])
def test_an_unknown_token_is_a_private_404_that_says_the_link_is_no_longer_valid(client, path):
    response = client.get(path.format(t="A" * 43))
    assert response.status_code == 404
    assert "no longer valid" in response.text
    _private(response)


def test_subscribing_is_linked_from_every_page_and_the_listing_carries_its_filters(client, make_programme, make_event):
    make_programme(code="tatc")
    make_event(category="seminar")
    for path in ("/", "/programmes", "/subscribe/sent"):
        assert f'href="{BASE_URL}/subscribe"' in client.get(path).text, path
    listing = client.get("/events?programme=tatc&category=seminar").text
    assert f'href="{BASE_URL}/subscribe?programme=tatc&amp;category=seminar"' in listing
    assert f'href="{BASE_URL}/subscribe?programme=tatc"' in client.get("/events?programme=tatc").text

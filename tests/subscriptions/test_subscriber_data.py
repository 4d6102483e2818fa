"""A subscriber's own data: the download from their preferences page, and erasure (a page
that says what goes, a ticked box, CSRF; the row, its emails gone; an audit without the
address)."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from portal.errors import NotFound
from portal.subscriptions import service
from tests.conftest import BASE_URL, csrf_from

EMAIL = "sam@example.org"


@pytest.fixture
def token(ask, run, subscribers):  # type: ignore[no-untyped-def]
    ask(EMAIL, categories=[], frequency="weekly")
    [subscriber] = subscribers()
    run(service.confirm, subscriber.token)
    return subscriber.token


def test_the_preferences_page_offers_the_download_and_erasure(client, token):
    page = client.get(f"/subscribe/{token}")
    assert f'/subscribe/{token}/data.json"' in page.text
    assert f'/subscribe/{token}/erase"' in page.text


def test_the_download_holds_the_address_choices_and_dates_not_the_token(client, token):
    response = client.get(f"/subscribe/{token}/data.json")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["cache-control"] == "no-store"
    data = json.loads(response.text)
    assert data["email"] == EMAIL and data["frequency"] == "weekly"
    assert data["programmes"] == [] and data["categories"] == []
    assert data["confirmed_at"] and data["created_at"]
    assert token not in response.text


def test_erasing_deletes_the_subscription_and_its_emails(client, token, subscribers, outbox, audit_entries):
    assert any(m.to_address == EMAIL for m in outbox())
    ask = client.get(f"/subscribe/{token}/erase")
    assert ask.status_code == 200 and EMAIL in ask.text

    unticked = client.post(f"/subscribe/{token}/erase", data={"csrf_token": csrf_from(ask.text)})
    assert unticked.status_code == 422 and "Tick the box" in unticked.text
    assert len(subscribers()) == 1

    done = client.post(f"/subscribe/{token}/erase", data={"csrf_token": csrf_from(ask.text), "understood": "yes"})

    assert done.status_code == 200 and "Your subscription is erased" in done.text
    assert subscribers() == []
    assert [m for m in outbox() if m.to_address == EMAIL] == []
    [entry] = [e for e in audit_entries() if e.action == "subscriber.erase"]
    assert EMAIL not in json.dumps([entry.before, entry.after])
    for path in ("", "/data.json", "/erase"):
        assert client.get(f"/subscribe/{token}{path}").status_code == 404


def test_erasing_needs_the_csrf_token(app, client, token, subscribers):
    client.get(f"/subscribe/{token}/erase")
    assert client.post(f"/subscribe/{token}/erase", data={"understood": "yes"}).status_code == 403
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as stranger:
        assert stranger.post(f"/subscribe/{token}/erase", data={"understood": "yes", "csrf_token": "forged"}).status_code == 403
    assert len(subscribers()) == 1


def test_erasing_twice_is_not_found(run, token):
    run(service.erase, token)
    with pytest.raises(NotFound):
        run(service.erase, token)

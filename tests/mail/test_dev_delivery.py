"""Development without a mail server: `portal serve` delivers the outbox to its own log."""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import MessageStatus
from portal.settings import Settings, SettingsError
from tests.conftest import BASE_URL, csrf_from


def test_the_server_delivers_to_its_log_when_no_mail_server_is_set(settings, make_event, outbox, caplog):
    app = create_app(dataclasses.replace(settings, deliver_in_process=True))
    event = make_event()
    with caplog.at_level(logging.INFO, logger="portal.mail.log"), TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        page = client.get(f"/events/{event.slug}/register")
        data = {"csrf_token": csrf_from(page.text), "name": "Dev Eloper", "email": "dev@example.org", "consent": "y"}
        assert client.post(f"/events/{event.slug}/register", data=data).status_code == 303
        deadline = time.monotonic() + 15
        while outbox()[0].status != MessageStatus.SENT:
            assert time.monotonic() < deadline, "the server did not deliver the message"
            time.sleep(0.1)
    # The lifespan has ended: the background task stopped with it.
    (message,) = outbox()
    assert message.to_address == "dev@example.org"
    token = message.body_text.split("/registrations/")[1].split()[0]
    assert f"{BASE_URL}/registrations/{token}" in caplog.text


def test_the_tests_app_does_not_deliver(settings):
    assert settings.deliver_in_process is False


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, True),
        ({"PORTAL_DELIVER_IN_PROCESS": "0"}, False),
        ({"PORTAL_DELIVER_IN_PROCESS": "no"}, False),
        ({"PORTAL_DELIVER_IN_PROCESS": "1"}, True),
        ({"PORTAL_SMTP_URL": "smtp://mail.example.org:587?starttls=1"}, False),
        ({"PORTAL_SMTP_URL": "smtp://mail.example.org", "PORTAL_DELIVER_IN_PROCESS": "1"}, False),
    ],
)
def test_in_process_delivery_only_without_a_mail_server(environ, expected, tmp_path):
    settings = Settings.from_env(environ={"PORTAL_SECRET_KEY": "k", **environ}, cwd=tmp_path)
    assert settings.deliver_in_process is expected


def test_a_malformed_switch_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="PORTAL_DELIVER_IN_PROCESS must be 1 or 0"):
        Settings.from_env(environ={"PORTAL_SECRET_KEY": "k", "PORTAL_DELIVER_IN_PROCESS": "perhaps"}, cwd=tmp_path)

"""Organisers see the outbox and resend what failed, from the back office."""

from __future__ import annotations

import dataclasses

import pytest

from portal.mail.outbox import MAX_ATTEMPTS
from portal.models import AuditEntry, MessageStatus, OutboxMessage
from tests.conftest import csrf_from
from tests.web.backoffice.conftest import post

Q, SENT, FAILED = MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.FAILED


@pytest.fixture
def messages(run, site, make_event, make_registration):
    """One message in each state, about one event."""
    from portal.mail.messages import queue_registration_message

    event = make_event(title="Outbox & <Co>")
    people = [make_registration(event, email=f"{state}@example.org") for state in ("queued", "sent", "failed")]

    def _add(session):
        rows = [queue_registration_message(session, site, "confirmed", r, event) for r in people]
        session.flush()
        rows[1].status, rows[1].attempts = SENT, 1
        rows[1].sent_at = rows[1].created_at
        rows[2].status, rows[2].attempts, rows[2].last_error = FAILED, MAX_ATTEMPTS, "SMTPRecipientsRefused: 550 <no such mailbox>"
        return {row.to_address.split("@")[0]: row.id for row in rows}

    return run(_add)


def state_of(sessions, message_id):
    with sessions() as session:
        return session.get_one(OutboxMessage, message_id)


def test_the_outbox_needs_a_signed_in_organiser(client):
    response = client.get("/admin/outbox")
    assert response.status_code == 303
    assert "/admin/sign-in?next=%2Fadmin%2Foutbox" in response.headers["location"]


def test_organisers_see_every_message_with_its_state_and_error(organiser_client, messages):
    page = organiser_client.get("/admin/outbox")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    for address in ("queued@example.org", "sent@example.org", "failed@example.org"):
        assert address in page.text
    assert "SMTPRecipientsRefused: 550 &lt;no such mailbox&gt;" in page.text
    assert "Outbox &amp; &lt;Co&gt;" in page.text
    assert "All (3)" in page.text and "Failed (1)" in page.text
    # Private manage links stay in the emails, never on this page.
    assert "/registrations/" not in page.text.replace("/admin/registrations/", "")
    assert 'href="http://testserver/admin/outbox"' in page.text  # in the back office's menu


def test_filter_by_status(organiser_client, messages):
    failed = organiser_client.get("/admin/outbox?status=failed")
    assert "failed@example.org" in failed.text
    assert "sent@example.org" not in failed.text and "queued@example.org" not in failed.text
    queued = organiser_client.get("/admin/outbox?status=queued")
    assert "queued@example.org" in queued.text and "failed@example.org" not in queued.text
    # A status the portal does not know shows everything rather than an error.
    assert "sent@example.org" in organiser_client.get("/admin/outbox?status=bogus").text
    search = organiser_client.get("/admin/outbox?q=SENT@")
    assert "sent@example.org" in search.text and "failed@example.org" not in search.text


def test_resend_a_failed_message_and_it_arrives(organiser_client, messages, sessions, organiser, smtp_server, deliver):
    page = organiser_client.get("/admin/outbox?status=failed")
    response = organiser_client.post(
        f"/admin/outbox/{messages['failed']}/resend", data={"csrf_token": csrf_from(page.text), "status": "failed"}
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("/admin/outbox?status=failed")
    message = state_of(sessions, messages["failed"])
    assert (message.status, message.attempts, message.last_error, message.claimed_until) == (Q, 0, "", None)
    assert "queued to be sent again" in organiser_client.get(response.headers["location"]).text

    with sessions() as session:
        entry = session.query(AuditEntry).filter_by(action="message.resend").one()
        assert entry.organiser_id == organiser.id and entry.before["status"] == "failed"

    deliver(smtp_server)
    assert [a.rcpt_tos for a in smtp_server.arrivals] == [["queued@example.org"], ["failed@example.org"]]
    assert state_of(sessions, messages["failed"]).status == SENT


def test_resend_a_sent_message(organiser_client, messages, sessions):
    response = post(organiser_client, f"/admin/outbox/{messages['sent']}/resend", token_from="/admin/outbox")
    assert response.status_code == 303
    assert state_of(sessions, messages["sent"]).status == Q


def test_a_queued_message_cannot_be_resent_twice(organiser_client, messages, sessions):
    response = post(organiser_client, f"/admin/outbox/{messages['queued']}/resend", token_from="/admin/outbox")
    assert response.status_code == 303
    assert "already waiting" in organiser_client.get(response.headers["location"]).text


def test_resend_needs_the_csrf_token(organiser_client, messages, sessions):
    response = organiser_client.post(f"/admin/outbox/{messages['failed']}/resend", data={})
    assert response.status_code == 403
    assert state_of(sessions, messages["failed"]).status == FAILED


def test_resend_of_a_missing_message_is_404(organiser_client, messages):
    assert post(organiser_client, "/admin/outbox/999999/resend", token_from="/admin/outbox").status_code == 404


def test_the_outbox_says_who_sends_the_mail_and_takes_any_page_number(app, organiser_client, messages):
    # The test settings have no mail server and no delivery in process: the worker sends.
    assert "by the worker (<code>portal worker</code>)" in organiser_client.get("/admin/outbox").text
    # Without a mail server, `portal serve` delivers to its own log (create_app's lifespan).
    app.state.settings = dataclasses.replace(app.state.settings, deliver_in_process=True)
    told = organiser_client.get("/admin/outbox").text
    assert "writes each one to its log" in told and "portal worker" not in told
    for number in ("²", "①", "-1", "abc", "99999999"):
        assert organiser_client.get("/admin/outbox", params={"page": number}).status_code == 200, number

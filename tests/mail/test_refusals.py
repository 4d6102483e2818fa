"""A refusal that is final holds the message at once, with its reason; one that may pass is
tried again later. Against a real SMTP server that answers as told."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.mail.backoffice import requeue
from portal.mail.outbox import backoff
from portal.mail.transports import refusal
from portal.models import MessageStatus

Q, SENT, FAILED = MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.FAILED


def test_a_5xx_recipient_is_held_at_once_and_a_4xx_one_is_tried_again(enqueue, rows, smtp_server, deliver):
    unknown, busy, fine = enqueue(3)
    state = rows()
    smtp_server.handler.replies = {
        state[unknown].to_address: "550 5.1.1 No such mailbox here",
        state[busy].to_address: "451 4.3.0 Try again later",
    }
    t0 = utcnow()

    assert deliver(smtp_server, now=t0) == (1, 2)
    state = rows()
    assert state[unknown].status == FAILED and state[unknown].attempts == 1
    assert state[unknown].last_error == (
        f"Undeliverable: the server refused {state[unknown].to_address}: 550 5.1.1 No such mailbox here"
    )
    assert state[busy].status == Q and state[busy].attempts == 1
    assert state[busy].next_attempt_at == t0 + backoff(1)
    assert "451" in state[busy].last_error and "Try again later" in state[busy].last_error
    assert state[fine].status == SENT

    # The busy mailbox takes it next time; the held message is not tried again, whenever.
    smtp_server.handler.replies = {}
    assert deliver(smtp_server, now=t0 + timedelta(days=30)) == (1, 0)
    state = rows()
    assert state[busy].status == SENT and state[busy].attempts == 2
    assert state[unknown].status == FAILED and state[unknown].attempts == 1
    assert sorted(a.rcpt_tos[0] for a in smtp_server.arrivals) == sorted([state[busy].to_address, state[fine].to_address])


def test_a_held_message_goes_once_an_organiser_resends_it(enqueue, rows, run, smtp_server, deliver):
    (message_id,) = enqueue(1)
    smtp_server.handler.reply = "550 5.1.1 No such mailbox here"
    assert deliver(smtp_server) == (0, 1)
    assert rows()[message_id].status == FAILED

    smtp_server.handler.reply = None  # the address was mistyped in the mail server's directory
    run(lambda session: requeue(session, None, message_id))
    assert deliver(smtp_server) == (1, 0)
    assert rows()[message_id].status == SENT
    assert len(smtp_server.arrivals) == 1


@pytest.mark.parametrize(
    ("reply", "held"),
    [("554 5.6.0 Message content rejected", True), ("452 4.3.1 Insufficient system storage", False)],
    ids=["5xx", "4xx"],
)
def test_a_message_refused_after_its_content_is_held_only_for_a_5xx(reply, held, enqueue, rows, smtp_server, deliver):
    (message_id,) = enqueue(1)
    smtp_server.handler.data_reply = reply
    assert deliver(smtp_server) == (0, 1)
    message = rows()[message_id]
    assert message.attempts == 1
    assert message.status == (FAILED if held else Q)
    code, text = reply.split(" ", 1)
    assert code in message.last_error and text in message.last_error
    assert message.last_error.startswith("Undeliverable: the server refused the message") is held


def test_a_message_that_cannot_be_built_is_held_without_connecting(enqueue, rows, smtp_down, deliver):
    """The server is down: had the worker tried to connect, the error would be a refused
    connection, and the message would stay queued."""
    (broken,) = enqueue(1, subject="Welcome\r\nBcc: everyone@example.org")
    (bad_charset,) = enqueue(
        1, attachments=[{"filename": "x.ics", "content_type": "text/calendar; charset=no-such-charset", "content": "x"}]
    )
    assert deliver(smtp_down) == (0, 2)
    state = rows()
    assert state[broken].status == FAILED and state[broken].attempts == 1
    assert state[broken].last_error.startswith("Undeliverable: the message cannot be built: ValueError:")
    assert state[bad_charset].status == FAILED
    assert "LookupError: unknown encoding: no-such-charset" in state[bad_charset].last_error


@pytest.mark.parametrize(
    ("exc", "final"),
    [
        (smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"5.1.1 unknown")}), True),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"unknown"), "b@example.org": (451, b"later")}), False),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (421, b"closing")}), False),
        (smtplib.SMTPDataError(552, b"5.3.4 Message too big"), True),
        (smtplib.SMTPDataError(451, b"4.3.0 Local error"), False),
        # The configuration's fault, the same for every message: retried, so that the queue
        # goes once it is fixed, rather than every message held at once.
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid"), False),
        (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender address rejected", "portal@example.org"), False),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."), False),
        (smtplib.SMTPConnectError(554, b"No SMTP service here"), False),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), False),
    ],
    ids=[
        "recipient-5xx", "recipients-mixed", "recipient-4xx", "data-5xx", "data-4xx",
        "auth-535", "sender-5xx", "no-starttls", "connect-554", "disconnected",
    ],
)
def test_which_refusals_are_final(exc, final):
    assert (refusal(exc) is not None) is final

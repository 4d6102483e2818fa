"""Delivering the outbox: claim due messages, send them, record the outcome.

A message is claimed (leased) in one short transaction, sent outside any transaction, and
marked sent or failed in another. A worker that dies mid-send leaves a lease that expires,
and the message is sent again by the next worker: at-least-once, never lost. On PostgreSQL
several workers claim disjoint rows with FOR UPDATE SKIP LOCKED; on SQLite the claim runs
under the database's write lock, so workers also take turns safely.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from portal.db import transaction, utcnow
from portal.models import MessageStatus, OutboxMessage

log = logging.getLogger("portal.mail")

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4, 8... minutes, at most 4 hours."""
    return timedelta(minutes=min(2 ** (attempts - 1), 240))


@dataclass(frozen=True)
class Envelope:
    id: int
    to_address: str
    subject: str
    body_text: str
    body_html: str
    attachments: list[dict[str, str]]


class Transport(Protocol):
    def send(self, mail_from: str, envelope: Envelope) -> None: ...


def build_message(mail_from: str, envelope: Envelope) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = envelope.to_address
    msg["Subject"] = envelope.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=f"outbox-{envelope.id}")
    msg.set_content(envelope.body_text)
    if envelope.body_html:
        msg.add_alternative(envelope.body_html, subtype="html")
    for attachment in envelope.attachments:
        maintype, _, subtype = attachment["content_type"].partition("/")
        params = {}
        if "; method=" in subtype:
            subtype, _, method = subtype.partition("; method=")
            params["method"] = method
        msg.add_attachment(
            attachment["content"].encode("utf-8"), maintype=maintype, subtype=subtype,
            filename=attachment["filename"], params=params or None,
        )
    return msg


class LogTransport:
    """No mail server configured: write each message to the log, so developers see them."""

    def send(self, mail_from: str, envelope: Envelope) -> None:
        log.info("email to %s: %s\n%s", envelope.to_address, envelope.subject, envelope.body_text)


class SMTPTransport:
    """smtp://user:pass@host:587?starttls=1 or smtps://host:465"""

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("PORTAL_SMTP_URL must look like smtp://user:pass@host:587?starttls=1")
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.ssl else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes")
        self.timeout = timeout

    def send(self, mail_from: str, envelope: Envelope) -> None:
        message = build_message(mail_from, envelope)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


def transport_for(smtp_url: str | None) -> Transport:
    return SMTPTransport(smtp_url) if smtp_url else LogTransport()


def claim_due(session: Session, *, now: datetime, limit: int = 50) -> list[Envelope]:
    """Lease up to `limit` due messages to this worker and return them."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == MessageStatus.QUEUED,
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    messages = list(session.scalars(query))
    for message in messages:
        message.claimed_until = now + LEASE
    return [
        Envelope(m.id, m.to_address, m.subject, m.body_text, m.body_html, list(m.attachments or []))
        for m in messages
    ]


def record_sent(session: Session, message_id: int, *, now: datetime) -> None:
    message = session.get_one(OutboxMessage, message_id)
    message.status = MessageStatus.SENT
    message.attempts += 1
    message.sent_at = now
    message.claimed_until = None
    message.last_error = ""


def record_failure(session: Session, message_id: int, error: str, *, now: datetime, max_attempts: int = MAX_ATTEMPTS) -> None:
    message = session.get_one(OutboxMessage, message_id)
    message.attempts += 1
    message.last_error = error[:2000]
    message.claimed_until = None
    if message.attempts >= max_attempts:
        message.status = MessageStatus.FAILED
    else:
        message.next_attempt_at = now + backoff(message.attempts)


def deliver_due(
    sessions: sessionmaker[Session],
    transport: Transport,
    mail_from: str,
    *,
    now: Callable[[], datetime] = utcnow,
    limit: int = 50,
    max_attempts: int = MAX_ATTEMPTS,
) -> tuple[int, int]:
    """Send what is due; returns (sent, failed attempts). Never raises for a send error."""
    with transaction(sessions, write=True) as session:
        batch = claim_due(session, now=now(), limit=limit)
    sent = failed = 0
    for envelope in batch:
        try:
            transport.send(mail_from, envelope)
        except (OSError, smtplib.SMTPException) as exc:
            failed += 1
            log.warning("email %s to %s failed: %s", envelope.id, envelope.to_address, exc)
            with transaction(sessions, write=True) as session:
                record_failure(session, envelope.id, f"{type(exc).__name__}: {exc}", now=now(), max_attempts=max_attempts)
        else:
            sent += 1
            with transaction(sessions, write=True) as session:
                record_sent(session, envelope.id, now=now())
    return sent, failed

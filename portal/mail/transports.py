"""Building one email (MIME, with its .ics attachments) and sending it: to an SMTP server,
or to the log when none is configured."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage, Message
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

# LogTransport's own logger: portal/logs.py leaves its manage links unredacted.
mail_log = logging.getLogger("portal.mail.log")

SMTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Envelope:
    id: int
    to_address: str
    subject: str
    body_text: str
    body_html: str
    attachments: list[dict[str, str]]
    # The end of this worker's lease on the message; it doubles as the claim's identity.
    claimed_until: datetime | None = None


class Transport(Protocol):
    def send(self, mail_from: str, envelope: Envelope) -> None: ...


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    """('text', 'calendar', {'charset': 'utf-8', 'method': 'REQUEST'}) from a Content-Type."""
    header = Message()
    header["Content-Type"] = value
    params = {k.lower(): v for k, v in header.get_params(failobj=[])[1:] if isinstance(v, str)}
    return header.get_content_maintype(), header.get_content_subtype(), params


def build_message(mail_from: str, envelope: Envelope) -> EmailMessage:
    """The MIME message: text and HTML alternatives, then the attachments (an .ics goes as
    text/calendar with its METHOD parameter, which is what makes mail clients offer it as an
    invitation or a cancellation)."""
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
        maintype, subtype, params = _content_type(attachment["content_type"])
        charset = params.setdefault("charset", "utf-8") if maintype == "text" else "utf-8"
        # Bytes in base64 keep an iCalendar object's CRLF line ends exactly as built.
        msg.add_attachment(
            attachment["content"].encode(charset),
            maintype=maintype,
            subtype=subtype,
            filename=attachment["filename"],
            params=params,
        )
    return msg


class LogTransport:
    """No mail server configured: write each message to the log, so developers see them."""

    def send(self, mail_from: str, envelope: Envelope) -> None:
        files = ", ".join(a["filename"] for a in envelope.attachments) or "none"
        mail_log.info(
            "email to %s: %s (attachments: %s)\n%s",
            envelope.to_address, envelope.subject, files, envelope.body_text,
        )


class SMTPTransport:
    """smtp://user:pass@host:587?starttls=1 or smtps://host:465"""

    def __init__(self, url: str, timeout: float = SMTP_TIMEOUT) -> None:
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

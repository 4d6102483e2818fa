"""Building one email (MIME, with its .ics attachments and inline images) and sending it: to
an SMTP server, or to the log when none is configured; and telling a refusal that is final
from one worth trying again."""

from __future__ import annotations

import base64
import contextlib
import logging
import smtplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

from portal.documents import qr

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
    # The outbox's attachments: {"filename", "content_type", "content"} with text content;
    # "encoding": "base64" when the content is bytes in base64; "qr": a text whose QR code is
    # the content, drawn as a PNG when the message is built (not under the lock of the
    # transaction that queued it); "content_id" for an image the HTML part shows (cid:).
    attachments: list[dict[str, Any]]
    # The end of this worker's lease on the message; it doubles as the claim's identity.
    claimed_until: datetime | None = None
    # Headers besides the usual (List-Id, List-Unsubscribe, Auto-Submitted...).
    headers: dict[str, str] = field(default_factory=dict)
    # The same for every try of one outbox row, so that a message sent twice (the worker died
    # between the server's acceptance and the record of it) is one message to mail clients.
    message_id: str | None = None


class Transport(Protocol):
    """Sends one message or raises: Undeliverable when no later try can succeed, anything
    else when one may."""

    def send(self, mail_from: str, envelope: Envelope) -> None: ...


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    """('text', 'calendar', {'charset': 'utf-8', 'method': 'REQUEST'}) from a Content-Type."""
    header = Message()
    header["Content-Type"] = value
    params = {k.lower(): v for k, v in header.get_params(failobj=[])[1:] if isinstance(v, str)}
    return header.get_content_maintype(), header.get_content_subtype(), params


def _content(attachment: dict[str, Any], charset: str) -> bytes:
    if "qr" in attachment:
        return qr.png(str(attachment["qr"]), int(attachment.get("scale", 8)))
    if attachment.get("encoding") == "base64":
        return base64.b64decode(attachment["content"], validate=True)
    content: str = attachment["content"]
    return content.encode(charset)


def build_message(mail_from: str, envelope: Envelope) -> EmailMessage:
    """The MIME message: text and HTML alternatives, the HTML's inline images beside it
    (multipart/related), then the attachments (an .ics goes as text/calendar with its METHOD
    parameter, which is what makes mail clients offer it as an invitation or a cancellation)."""
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = envelope.to_address
    msg["Subject"] = envelope.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = envelope.message_id or make_msgid(idstring=f"outbox-{envelope.id}")
    for name, value in envelope.headers.items():
        # Built by the portal, never typed by anyone; a line break would still start a header
        # of its own, so none gets through.
        msg[name] = " ".join(str(value).split())
    msg.set_content(envelope.body_text)
    html = None
    if envelope.body_html:
        msg.add_alternative(envelope.body_html, subtype="html")
        html = msg.get_payload()[1]
    for attachment in envelope.attachments:
        maintype, subtype, params = _content_type(attachment["content_type"])
        if attachment.get("content_id") and html is not None:
            # The HTML part becomes multipart/related: the HTML first, then the images it names.
            html.add_related(
                _content(attachment, params.get("charset", "utf-8")), maintype=maintype, subtype=subtype,
                cid=f"<{attachment['content_id']}>", filename=attachment["filename"], disposition="inline",
            )
            continue
        charset = params.setdefault("charset", "utf-8") if maintype == "text" else "utf-8"
        # Bytes in base64 keep an iCalendar object's CRLF line ends exactly as built.
        msg.add_attachment(
            _content(attachment, charset),
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


class Undeliverable(Exception):
    """This message can never be sent as it is: the worker holds it rather than trying again."""


# How the connection is protected: TLS from the first byte, STARTTLS before anything else is
# said, or none (a relay on this host or a trusted network).
SECURITIES = ("tls", "starttls", "none")


class SMTPTransport:
    """Sends each message over its own connection to one SMTP server.

    With security "starttls" (the default) a server that does not offer STARTTLS gets no
    password and no message: smtplib refuses before logging in, so someone in the path who
    strips STARTTLS from the server's answer learns nothing. Certificates are checked against
    the system's authorities, or only those in `cafile`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        user: str | None = None,
        password: str | None = None,
        cafile: str | None = None,
        timeout: float = SMTP_TIMEOUT,
    ) -> None:
        if security not in SECURITIES:
            raise ValueError(f"SMTP security must be one of {', '.join(SECURITIES)}, not {security!r}")
        self.host = host
        self.port = port
        self.security = security
        self.user = user
        self.password = password
        self.timeout = timeout
        # Built once: it reads the authorities' certificates, and a bad cafile shows at start-up.
        self.context = None if security == "none" else ssl.create_default_context(cafile=cafile)
        # One connection carries a batch's messages, one after another (a new one for each
        # would cost a TCP and TLS handshake and a login per email): inside batch(), which
        # deliver_due opens and which closes it; a send outside one has its own connection. After any error it is dropped, and the next message connects
        # afresh. A transport is used by one thread at a time.
        self._kept: smtplib.SMTP | None = None
        self._batch = False

    def send(self, mail_from: str, envelope: Envelope) -> None:
        try:
            message = build_message(mail_from, envelope)
        except Exception as exc:  # noqa: BLE001 - building depends on the message alone: it fails again on every retry
            raise Undeliverable(f"the message cannot be built: {type(exc).__name__}: {exc}") from exc
        try:
            self._send(message)
        except smtplib.SMTPException as exc:
            reason = refusal(exc)
            if reason is not None:
                raise Undeliverable(reason) from exc
            raise

    def _send(self, message: EmailMessage) -> None:
        kept = self._kept
        if kept is not None:
            try:
                kept.send_message(message)
                return
            except smtplib.SMTPServerDisconnected:
                # The server closed a connection kept from the last message (its idle timeout):
                # nothing of this message was accepted, so it goes on a new connection.
                self._drop()
            except BaseException:
                self._drop()
                raise
        smtp = self._connect()
        try:
            smtp.send_message(message)
        except BaseException:
            _close_quietly(smtp)
            raise
        if self._batch:
            self._kept = smtp
        else:
            self._quit(smtp)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Send the messages of one batch over one connection, ended (QUIT) with the batch."""
        self._batch = True
        try:
            yield
        finally:
            self._batch = False
            kept, self._kept = self._kept, None
            if kept is not None:
                self._quit(kept)

    @staticmethod
    def _quit(smtp: smtplib.SMTP) -> None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            _close_quietly(smtp)

    def _drop(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            _close_quietly(kept)

    def _connect(self) -> smtplib.SMTP:
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                self._starttls(smtp)
            if self.user:
                smtp.login(self.user, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _starttls(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.starttls(context=self.context)
        except smtplib.SMTPNotSupportedError as exc:
            raise smtplib.SMTPNotSupportedError(
                f"{self.host}:{self.port} does not offer STARTTLS, so nothing was sent to it: use smtps:// "
                "if it takes TLS from the start, or add tls=none to PORTAL_SMTP_URL for a relay on a trusted network"
            ) from exc


def _close_quietly(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def refusal(exc: smtplib.SMTPException) -> str | None:
    """Why the server refused this message for good, or None when a later try may succeed.

    Only a 5xx answer about this message or its recipient is final: a 4xx asks us to come
    back later, and a refused login, sender or STARTTLS is the configuration's fault, the
    same for every message, so those are retried and go once it is fixed.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        if exc.recipients and all(code >= 500 for code, _ in exc.recipients.values()):
            return "; ".join(f"the server refused {to}: {code} {_text(reply)}" for to, (code, reply) in exc.recipients.items())
    elif isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500:
        return f"the server refused the message: {exc.smtp_code} {_text(exc.smtp_error)}"
    return None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply

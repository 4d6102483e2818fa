"""A real SMTP server for the mail tests (aiosmtpd on a free loopback port), and helpers to
deliver the outbox to it and read what arrived."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import icalendar
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from portal.mail.outbox import deliver_due
from portal.mail.transports import SMTPTransport
from tests.conftest import csrf_from

# The back office's fixtures, for the outbox page's tests (conftest files of sibling folders
# do not reach here); _quick_hashing is autouse there, and so here.
from tests.web.backoffice.conftest import _quick_hashing, admin, make_organiser, organiser, organiser_client  # noqa: F401


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Arrival:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None, "no text/plain part"
        return part.get_content()

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None, "no text/html part"
        return part.get_content()

    def attachments(self) -> list[EmailMessage]:
        return list(self.message.iter_attachments())

    def calendar(self) -> icalendar.Calendar:
        """The one .ics attachment, parsed."""
        (part,) = [a for a in self.attachments() if a.get_content_type() == "text/calendar"]
        return icalendar.Calendar.from_ical(part.get_payload(decode=True))


class Collector:
    """An aiosmtpd handler that keeps every message; `reply` makes it refuse them instead."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.reply: str | None = None
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.reply:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.arrivals.append(Arrival(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"


@dataclass
class SMTPServer:
    port: int
    handler: Collector = field(default_factory=Collector)
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def arrivals(self) -> list[Arrival]:
        with self.handler.lock:
            return list(self.handler.arrivals)

    def to(self, address: str) -> list[Arrival]:
        return [a for a in self.arrivals if address in a.rcpt_tos]

    def start(self) -> None:
        assert self.controller is None
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A running SMTP server on 127.0.0.1 that keeps what it receives."""
    server = SMTPServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down() -> Iterator[SMTPServer]:
    """An SMTP server that is not running yet (connections are refused); start() brings it up."""
    server = SMTPServer(free_port())
    yield server
    server.stop()


@pytest.fixture
def deliver(sessions: sessionmaker[Session], settings: Any) -> Callable[..., tuple[int, int]]:
    """deliver(server, now=None, **kw): one delivery round of the outbox over SMTP."""

    def _deliver(server: SMTPServer, now: datetime | None = None, **kwargs: Any) -> tuple[int, int]:
        if now is not None:
            kwargs["now"] = lambda: now
        return deliver_due(sessions, SMTPTransport(server.url, timeout=5), settings.mail_from, **kwargs)

    return _deliver


@pytest.fixture
def register_online(client: Any) -> Callable[..., Any]:
    """register_online(event, email, name=...): fill in and send the public form."""

    def _register(event: Any, email_address: str, name: str = "Ann Lee", **fields: str) -> Any:
        page = client.get(f"/events/{event.slug}/register")
        assert page.status_code == 200, page.text
        data = {"csrf_token": csrf_from(page.text), "name": name, "email": email_address, "consent": "y", **fields}
        response = client.post(f"/events/{event.slug}/register", data=data)
        assert response.status_code == 303, response.text
        return response

    return _register

"""A real SMTP server for the mail tests (aiosmtpd on a free loopback port), and helpers to
deliver the outbox to it and read what arrived."""

from __future__ import annotations

import email
import email.policy
import os
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

from portal.cli import smtp_transport
from portal.mail.outbox import deliver_due
from portal.mail.transports import SMTPTransport
from portal.models import OutboxMessage
from portal.settings import parse_smtp_url
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
    """An aiosmtpd handler that keeps every message. To make it refuse: `reply` answers every
    recipient, `replies` some ({address: reply}), `data_reply` every message's content."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.reply: str | None = None
        self.replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if self.reply or address in self.replies:
            return self.reply or self.replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
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
    # More arguments for aiosmtpd's Controller and SMTP: TLS, authentication.
    options: dict[str, Any] = field(default_factory=dict)

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
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.options)
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


def transport_for(url: str, timeout: float = 5) -> SMTPTransport:
    """The transport `portal worker` builds for this PORTAL_SMTP_URL."""
    return smtp_transport(parse_smtp_url(url), timeout=timeout)


def command_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The environment for running `portal ...` against the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_DATABASE_URL=database_url, PORTAL_SECRET_KEY="worker-test-secret", PORTAL_BASE_URL="http://testserver")
    env.update(extra)
    return env


@pytest.fixture
def deliver(sessions: sessionmaker[Session], settings: Any) -> Callable[..., tuple[int, int]]:
    """deliver(server, now=None, **kw): one delivery round of the outbox over SMTP."""

    def _deliver(server: SMTPServer, now: datetime | None = None, **kwargs: Any) -> tuple[int, int]:
        if now is not None:
            kwargs["now"] = lambda: now
        return deliver_due(sessions, transport_for(server.url), settings.mail_from, **kwargs)

    return _deliver


@pytest.fixture
def enqueue(run):
    """enqueue(n): n plain messages, due now, to r1@example.org, r2@... ; returns their ids."""
    counter = iter(range(1, 10_000))

    def _enqueue(n, **overrides):
        def _add(session):
            rows = []
            for _ in range(n):
                i = next(counter)
                values = {"kind": "test", "to_address": f"r{i}@example.org", "subject": f"Message {i}", "body_text": f"Body {i}\n", "body_html": f"<p>Body {i}</p>"}
                rows.append(OutboxMessage(**{**values, **overrides}))
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

        return run(_add)

    return _enqueue


@pytest.fixture
def rows(sessions):
    """rows(): {id: OutboxMessage} as the database has them now."""

    def _rows():
        with sessions() as session:
            return {m.id: m for m in session.query(OutboxMessage)}

    return _rows


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

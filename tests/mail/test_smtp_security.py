"""A password for the mail server never crosses the network in clear: STARTTLS or TLS from the
start, against a real SMTP server with a certificate made for the test; plain only when the
URL says tls=none; and `portal worker` and `portal serve` refuse a URL that would do otherwise."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from portal.mail.outbox import deliver_due
from portal.models import MessageStatus
from tests.mail.conftest import SMTPServer, command_environment, free_port, transport_for

Q, SENT = MessageStatus.QUEUED, MessageStatus.SENT
USER, PASSWORD = "mailer", "p@ss w:rd/?"
CREDENTIALS = f"{USER}:{quote(PASSWORD, safe='')}"


@dataclass(frozen=True)
class Certificates:
    cafile: str  # the test authority, for the portal to trust
    server_context: ssl.SSLContext  # the server's certificate for 127.0.0.1, signed by it


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    authority = trustme.CA()
    cafile = tmp_path_factory.mktemp("tls") / "ca.pem"
    authority.cert_pem.write_to_path(str(cafile))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return Certificates(str(cafile), context)


class Logins:
    """The server's authenticator: keeps every login it is offered, and whether the
    connection was encrypted when it came."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.seen.append((data.login.decode(), data.password.decode(), encrypted))
        return AuthResult(success=(data.login.decode(), data.password.decode()) == (USER, PASSWORD), handled=False)


@pytest.fixture
def make_server() -> Iterator[Callable[..., tuple[SMTPServer, Logins]]]:
    """make_server(**options): a running SMTP server that takes a login, with aiosmtpd's
    options (TLS, auth_required); returns it and its record of logins."""
    started: list[SMTPServer] = []

    def _make(**options: Any) -> tuple[SMTPServer, Logins]:
        logins = Logins()
        server = SMTPServer(free_port(), options={"authenticator": logins, **options})
        server.start()
        started.append(server)
        return server, logins

    yield _make
    for server in started:
        server.stop()


@pytest.fixture
def send(enqueue, rows, sessions, settings) -> Callable[[str], Any]:
    """send(url): queue one message, deliver it over PORTAL_SMTP_URL=url; the row after."""

    def _send(url: str) -> Any:
        (message_id,) = enqueue(1)
        deliver_due(sessions, transport_for(url), settings.mail_from)
        return rows()[message_id]

    return _send


def test_starttls_carries_the_password_and_the_message(certificates, make_server, send):
    server, logins = make_server(tls_context=certificates.server_context, require_starttls=True, auth_required=True)
    # No tls= in the URL: with a password, STARTTLS is the default, whatever the port.
    message = send(f"smtp://{CREDENTIALS}@127.0.0.1:{server.port}?cafile={certificates.cafile}")
    assert message.status == SENT, message.last_error
    assert logins.seen == [(USER, PASSWORD, True)]
    assert [a.rcpt_tos for a in server.arrivals] == [[message.to_address]]


def test_a_server_without_starttls_never_gets_the_password(make_server, send):
    # This server would take a login in clear; the portal must not offer one.
    server, logins = make_server(auth_require_tls=False)
    message = send(f"smtp://{CREDENTIALS}@127.0.0.1:{server.port}")
    assert logins.seen == [] and server.arrivals == []
    # The configuration's fault, not the message's: it waits for the fix.
    assert message.status == Q and message.attempts == 1
    assert "does not offer STARTTLS" in message.last_error and "tls=none" in message.last_error

    # Said explicitly, for a relay on a trusted network: the login goes in clear.
    message = send(f"smtp://{CREDENTIALS}@127.0.0.1:{server.port}?tls=none")
    assert message.status == SENT, message.last_error
    assert logins.seen == [(USER, PASSWORD, False)]


def test_smtps_is_tls_from_the_first_byte(certificates, make_server, send):
    # aiosmtpd cannot tell that a connection it wrapped itself is encrypted: let it offer AUTH.
    server, logins = make_server(ssl_context=certificates.server_context, auth_require_tls=False)
    message = send(f"smtps://{CREDENTIALS}@127.0.0.1:{server.port}?cafile={certificates.cafile}")
    assert message.status == SENT, message.last_error
    assert logins.seen == [(USER, PASSWORD, True)]
    assert len(server.arrivals) == 1


def test_a_certificate_the_portal_does_not_trust_gets_nothing(certificates, make_server, send):
    server, logins = make_server(tls_context=certificates.server_context, require_starttls=True)
    # Without cafile the system's authorities decide, and none of them signed this certificate.
    message = send(f"smtp://{CREDENTIALS}@127.0.0.1:{server.port}")
    assert logins.seen == [] and server.arrivals == []
    assert message.status == Q and "CERTIFICATE_VERIFY_FAILED" in message.last_error


def test_a_wrong_password_is_retried_not_held(certificates, make_server, send):
    server, logins = make_server(tls_context=certificates.server_context, require_starttls=True, auth_required=True)
    message = send(f"smtp://{USER}:wrong@127.0.0.1:{server.port}?cafile={certificates.cafile}")
    assert logins.seen and all(seen == (USER, "wrong", True) for seen in logins.seen)  # smtplib tries each mechanism
    assert server.arrivals == []
    assert message.status == Q and message.attempts == 1
    assert message.last_error.startswith("SMTPAuthenticationError")


def test_a_relay_without_a_login_takes_plain_smtp(smtp_server, send):
    message = send(f"smtp://127.0.0.1:{smtp_server.port}")
    assert message.status == SENT, message.last_error
    assert len(smtp_server.arrivals) == 1


def test_portal_worker_sends_over_starttls(certificates, make_server, enqueue, rows, database_url, tmp_path):
    server, logins = make_server(tls_context=certificates.server_context, require_starttls=True)
    enqueue(2)
    url = f"smtp://{CREDENTIALS}@127.0.0.1:{server.port}?cafile={certificates.cafile}"
    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "worker", "--once"],
        env=command_environment(database_url, PORTAL_SMTP_URL=url), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "TLS: starttls" in done.stderr
    assert PASSWORD not in done.stderr and quote(PASSWORD, safe="") not in done.stderr
    # One connection, one STARTTLS and one login carry the batch's two messages.
    assert len(server.arrivals) == 2 and len(logins.seen) == 1
    assert all(m.status == SENT for m in rows().values())


@pytest.mark.parametrize("command", [["worker", "--once"], ["serve", "--port", "1"]], ids=["worker", "serve"])
def test_portal_refuses_to_start_with_a_password_in_clear(command, database_url, tmp_path):
    url = "smtp://mailer:hunter22@127.0.0.1:25?starttls=0"
    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", *command],
        env=command_environment(database_url, PORTAL_SMTP_URL=url), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "in clear" in done.stderr and "tls=none" in done.stderr
    assert "hunter22" not in done.stderr + done.stdout


def test_portal_worker_refuses_a_cafile_that_is_not_a_certificate(database_url, tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "worker", "--once"],
        env=command_environment(database_url, PORTAL_SMTP_URL=f"smtps://127.0.0.1?cafile={not_pem}"),
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert "portal worker: PORTAL_SMTP_URL:" in done.stderr

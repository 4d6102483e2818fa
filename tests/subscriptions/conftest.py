"""Fixtures for subscriptions: the real SMTP server and delivery (tests/mail), the service
called as the web calls it, and reading what it wrote."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Subscriber
from portal.registrations.limits import RegistrationLimits
from portal.subscriptions import service
from tests.conftest import BASE_URL, csrf_from

# The real SMTP server and one delivery round (conftest files of sibling folders do not reach here).
from tests.mail.conftest import deliver, smtp_server  # noqa: F401

CONFIRM_LINK = re.compile(re.escape(BASE_URL) + r"/subscribe/confirm/([A-Za-z0-9_\-]{40,})")
MANAGE_LINK = re.compile(re.escape(BASE_URL) + r"/subscribe/([A-Za-z0-9_\-]{40,})(?![\w/-])")
NO_LIMITS = RegistrationLimits(per_ip=0, per_email=0)


@pytest.fixture
def ask(run: Callable[..., Any], site: Any) -> Callable[..., None]:
    """ask(email, programmes=(), categories=(), frequency="each", client=..., limits=..., now=...):
    request_subscription in one transaction, as the form's handler calls it."""

    def _ask(email: str, **kwargs: Any) -> None:
        values: dict[str, Any] = {"programmes": [], "categories": [], "frequency": "each", "client": "192.0.2.1", "limits": NO_LIMITS}
        values.update(kwargs)
        run(service.request_subscription, site, email, **values)

    return _ask


@pytest.fixture
def subscribers(sessions: Any) -> Callable[[], list[Subscriber]]:
    """subscribers(): every row, by id."""

    def _read() -> list[Subscriber]:
        with sessions() as session:
            return list(session.scalars(select(Subscriber).order_by(Subscriber.id)))

    return _read


@pytest.fixture
def audit_entries(sessions: Any) -> Callable[[], list[AuditEntry]]:
    def _read() -> list[AuditEntry]:
        with sessions() as session:
            return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))

    return _read


@pytest.fixture
def subscribe_online(client: Any) -> Callable[..., Any]:
    """subscribe_online(email, programmes=[...], categories=[...], frequency="each"): fill in
    and send the public form; the response, not followed."""

    def _send(email: str, *, browser: Any = None, **fields: Any) -> Any:
        browser = browser or client
        page = browser.get("/subscribe")
        assert page.status_code == 200, page.text
        data = {"csrf_token": csrf_from(page.text), "email": email, "frequency": "each", **fields}
        return browser.post("/subscribe", data=data)

    return _send

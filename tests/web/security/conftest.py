"""Fixtures for the security tests: browsers from chosen addresses, a form submitter, the
organiser accounts of the back-office tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.models import Registration
from tests.conftest import BASE_URL, csrf_from
from tests.web.backoffice.conftest import _quick_hashing, admin, admin_client, make_organiser, organiser, organiser_client, waits  # noqa: F401

VALID = {"name": "Ann Lee", "email": "ann@example.org", "consent": "y"}


@pytest.fixture
def browser(app: Any) -> Iterator[Callable[..., TestClient]]:
    """browser(ip='testclient'): another browser, with its own cookies, at that client address."""
    with ExitStack() as stack:

        def _open(ip: str = "testclient") -> TestClient:
            return stack.enter_context(TestClient(app, base_url=BASE_URL, follow_redirects=False, client=(ip, 50000)))

        yield _open


def submit(client: TestClient, slug: str, **fields: Any) -> Any:
    """Load an event's form and send it with its CSRF token; VALID fills what is not given."""
    form = client.get(f"/events/{slug}/register")
    assert form.status_code == 200, form.status_code
    data = {**VALID, **fields, "csrf_token": csrf_from(form.text)}
    return client.post(f"/events/{slug}/register", data={k: v for k, v in data.items() if v is not None})


@pytest.fixture
def registered(sessions: Any) -> Callable[[], list[Registration]]:
    """registered(): every registration row, oldest first."""

    def _rows() -> list[Registration]:
        with sessions() as session:
            return list(session.scalars(select(Registration).order_by(Registration.id)))

    return _rows

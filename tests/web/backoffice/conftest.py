"""Fixtures for the back office: organiser accounts and signed-in clients."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from portal.accounts import organisers, passwords, signin
from portal.audit import Actor
from portal.web.backoffice import auth
from tests.conftest import BASE_URL, csrf_from

PASSWORD = "correct horse battery staple"
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _quick_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The real Argon2 parameters cost ~64 MiB and tens of milliseconds a hash; the rules
    # are the same with cheap ones.
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    passwords.dummy_hash.cache_clear()
    yield
    passwords.dummy_hash.cache_clear()


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds the sign-in handler waited for attempts' turns: recorded, not slept."""
    asked: list[float] = []

    async def _record(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(auth, "_sleep", _record)
    return asked


@pytest.fixture
def make_organiser(run: Callable[..., Any]) -> Callable[..., Actor]:
    """make_organiser(email=None, admin=False, password=PASSWORD, name='')"""

    def _make(email: str | None = None, *, admin: bool = False, password: str = PASSWORD, name: str = "") -> Actor:
        email = email or f"organiser{next(_numbers)}@example.org"
        return run(organisers.add_organiser, email, password, name=name, is_admin=admin)

    return _make


@pytest.fixture
def organiser(make_organiser: Callable[..., Actor]) -> Actor:
    return make_organiser("olga@example.org", name="Olga Organiser")


@pytest.fixture
def admin(make_organiser: Callable[..., Actor]) -> Actor:
    return make_organiser("ada@example.org", admin=True, name="Ada Admin")


def token(client: TestClient, path: str = "/admin/sign-in") -> str:
    """A CSRF token from a page, which also gives the client its CSRF cookie."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post("/admin/sign-in", data={"csrf_token": token(client), "email": email, "password": password, **extra})


def post(client: TestClient, path: str, data: dict[str, Any] | None = None, *, token_from: str = "/admin/") -> Any:
    """POST a back-office form with a valid CSRF token."""
    return client.post(path, data={"csrf_token": token(client, token_from), **(data or {})})


def attempt(run: Callable[..., Any], email: str, password: str, address: str, now: datetime) -> str:
    """One sign-in through the three services, as the handler makes it (without the wait):
    'signed in'; 'wrong'; 'paused' (wrong, and its address is now refused); 'locked' or
    'busy' (refused unchecked)."""
    begun = run(signin.begin_sign_in, email, address, now=now)
    if isinstance(begun, signin.Refusal):
        return "busy" if begun.busy else "locked"
    verdict = signin.check_password(begun, password)
    if verdict.matched and run(signin.finish_sign_in, begun, verdict, now=now).actor is not None:
        return "signed in"
    return "wrong" if begun.paused_until is None else "paused"


@pytest.fixture
def organiser_client(client: TestClient, organiser: Actor) -> TestClient:
    assert sign_in(client, organiser.email).status_code == 303
    return client


@pytest.fixture
def admin_client(client: TestClient, admin: Actor) -> TestClient:
    assert sign_in(client, admin.email).status_code == 303
    return client


@pytest.fixture
def other_client(app: Any) -> Iterator[TestClient]:
    """A second browser, with its own cookies."""
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as c:
        yield c

"""Limits on what one client may send: the size of a request body, registrations per client
address and per email address (counted in the database, so across processes). Sign-in
attempts are limited too; tests/admin/test_auth.py covers that lock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.testclient import TestClient

from portal.app import MAX_BODY_BYTES, create_app
from portal.db import utcnow
from portal.models import LimitScope, RateLimit
from portal.registrations import limits
from portal.registrations.limits import RegistrationLimits, TooManyRequests
from portal.settings import Settings, SettingsError
from portal.web.security import client_address
from tests.conftest import BASE_URL, csrf_from
from tests.web.security.conftest import VALID, submit

# --- request bodies ---------------------------------------------------------------------------


def _is_the_portals_413_page(response: Any) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Too large</h1>" in response.text
    assert "larger than the portal accepts" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_body_over_the_limit_gets_the_portals_413_page(client, make_event, registered):
    event = make_event()
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    response = client.post(
        f"/events/{event.slug}/register", data={**VALID, "csrf_token": csrf, "organisation": "x" * (MAX_BODY_BYTES + 1)}
    )
    _is_the_portals_413_page(response)
    # Refused before any handler ran, also on a page that never reads a body.
    _is_the_portals_413_page(client.request("GET", "/events", content=b"x" * (MAX_BODY_BYTES + 1)))
    assert registered() == []


def test_a_body_sent_without_a_length_is_counted_as_it_arrives(client, make_event, registered):
    event = make_event()
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    head = f"csrf_token={csrf}&name=Ann&email=ann%40example.org&consent=y&organisation=".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b"x" * 4096

    response = client.post(
        f"/events/{event.slug}/register", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert "content-length" not in response.request.headers
    _is_the_portals_413_page(response)
    assert registered() == []


def test_a_body_at_the_limit_is_read(client, make_event, registered):
    event = make_event()
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    # Fields under the form's limit per field (256 KiB), adding up to exactly the body limit.
    head = f"csrf_token={csrf}&name=Ann&email=ann%40example.org&consent=y&position={'x' * 200_000}&pad={'x' * 200_000}&padding="
    body = head + "x" * (MAX_BODY_BYTES - len(head))
    assert len(body.encode()) == MAX_BODY_BYTES
    response = client.post(
        f"/events/{event.slug}/register", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    # Read, and refused for what it says rather than for its size.
    assert response.status_code == 422
    assert ">Position or job title</a>: Keep this to 200 characters or fewer." in response.text


# --- registrations per client address and per email address -----------------------------------


@pytest.fixture
def limited(settings: Settings) -> Iterator[Callable[..., Callable[[str], TestClient]]]:
    """limited(per_ip=, per_email=): a browser factory, browser(ip), for an app with those limits."""
    with ExitStack() as stack:

        def _make(**limits_: int) -> Callable[[str], TestClient]:
            app = create_app(dataclasses.replace(settings, **{f"registrations_{k}_per_minute": v for k, v in limits_.items()}))

            def _browser(ip: str) -> TestClient:
                return stack.enter_context(TestClient(app, base_url=BASE_URL, follow_redirects=False, client=(ip, 50000)))

            return _browser

        yield _make


def _refused(response: Any, words: str) -> None:
    assert response.status_code == 429
    assert words in response.text
    assert "Nothing was registered" in response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_registrations_from_one_address_are_limited_per_minute(limited, make_event, registered):
    browser = limited(per_ip=3, per_email=0)
    event = make_event(capacity=None)
    office = browser("203.0.113.7")
    for n in range(3):
        assert submit(office, event.slug, email=f"delegate{n}@example.org").status_code == 303
    refused = submit(office, event.slug, name="Fourth Delegate", email="delegate3@example.org")
    _refused(refused, "from your network")
    # The form comes back as it was typed.
    assert 'value="Fourth Delegate"' in refused.text and 'value="delegate3@example.org"' in refused.text
    assert [r.email for r in registered()] == [f"delegate{n}@example.org" for n in range(3)]
    # Another address is not held up.
    assert submit(browser("198.51.100.9"), event.slug, email="delegate3@example.org").status_code == 303


def test_registrations_for_one_email_address_are_limited_per_minute(limited, make_event, registered):
    browser = limited(per_ip=0, per_email=2)
    events = [make_event() for _ in range(3)]
    assert submit(browser("203.0.113.1"), events[0].slug, email="Victim@Example.org").status_code == 303
    assert submit(browser("203.0.113.2"), events[1].slug, email="victim@example.org").status_code == 303
    # From a third address, with the address spelt differently: still the same inbox.
    _refused(submit(browser("203.0.113.3"), events[2].slug, email=" VICTIM@example.ORG "), "this email address")
    assert len(registered()) == 2
    assert submit(browser("203.0.113.3"), events[2].slug, email="someone.else@example.org").status_code == 303


def test_a_refused_registration_uses_up_nothing(limited, make_event, registered):
    browser = limited(per_ip=2, per_email=1)
    first, second = make_event(), make_event()
    office = browser("203.0.113.7")
    assert submit(office, first.slug, email="ann@example.org").status_code == 303
    _refused(submit(office, second.slug, email="ann@example.org"), "this email address")
    # The refusal did not count against the address: one more is allowed from it.
    assert submit(office, second.slug, email="bob@example.org").status_code == 303
    _refused(submit(office, second.slug, email="cy@example.org"), "from your network")
    assert [r.email for r in registered()] == ["ann@example.org", "bob@example.org"]


def test_one_ipv6_network_counts_as_one_address(limited, make_event):
    browser = limited(per_ip=1, per_email=0)
    event = make_event()
    assert submit(browser("2001:db8:1:2::10"), event.slug, email="a@example.org").status_code == 303
    _refused(submit(browser("2001:db8:1:2:ffff::99"), event.slug, email="b@example.org"), "from your network")
    assert submit(browser("2001:db8:1:3::10"), event.slug, email="c@example.org").status_code == 303


def test_every_process_counts_against_the_same_limit(settings, make_event, registered):
    tight = dataclasses.replace(settings, registrations_per_ip_per_minute=2)
    first, second = create_app(tight), create_app(tight)
    event = make_event()
    with (
        TestClient(first, base_url=BASE_URL, follow_redirects=False) as a,
        TestClient(second, base_url=BASE_URL, follow_redirects=False) as b,
    ):
        assert submit(a, event.slug, email="one@example.org").status_code == 303
        assert submit(b, event.slug, email="two@example.org").status_code == 303
        _refused(submit(a, event.slug, email="three@example.org"), "from your network")
        _refused(submit(b, event.slug, email="three@example.org"), "from your network")
    assert len(registered()) == 2


def _registration_hit(run, address: str, email: str, now, per_ip: int = 2, per_email: int = 0):  # type: ignore[no-untyped-def]
    try:
        run(limits.check_registration, address, email, RegistrationLimits(per_ip, per_email), now=now)
    except TooManyRequests as exc:
        return exc.retry_after
    return None


def test_the_window_is_a_minute_and_retry_after_says_how_long_is_left(run):
    start = utcnow()
    assert _registration_hit(run, "192.0.2.1", "a@example.org", start) is None
    assert _registration_hit(run, "192.0.2.1", "b@example.org", start + timedelta(seconds=10)) is None
    assert _registration_hit(run, "192.0.2.1", "c@example.org", start + timedelta(seconds=20)) == 40
    assert _registration_hit(run, "192.0.2.1", "c@example.org", start + timedelta(seconds=59.5)) == 1
    assert _registration_hit(run, "192.0.2.1", "c@example.org", start + timedelta(seconds=60)) is None


def test_a_limit_of_zero_counts_nothing(run, sessions):
    start = utcnow()
    for n in range(30):
        assert _registration_hit(run, "192.0.2.1", f"p{n}@example.org", start, per_ip=0, per_email=0) is None
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RateLimit)) == 0


def test_counters_of_long_past_windows_are_forgotten(run, sessions, monkeypatch):
    # The sweep runs on a few uses in a hundred; here, on every one.
    monkeypatch.setattr(limits, "_SWEEP_CHANCE", 1.0)
    start = utcnow()
    for n in range(3):
        _registration_hit(run, f"192.0.2.{n}", f"p{n}@example.org", start, per_email=5)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(RateLimit)) == 6
    _registration_hit(run, "192.0.2.200", "new@example.org", start + limits.FORGET_AFTER + timedelta(seconds=1), per_email=5)
    with sessions() as session:
        rows = session.execute(select(RateLimit.scope, RateLimit.key)).all()
    assert sorted(rows) == sorted([(LimitScope.REGISTER_IP, "192.0.2.200"), (LimitScope.REGISTER_EMAIL, "new@example.org")])


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64"),
        ("2001:db8:aa:bb::9", "2001:db8:aa:bb::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("testclient", "testclient"),
    ],
)
def test_client_address(host, counted_as):
    request = Request({"type": "http", "client": (host, 1234), "headers": []})
    assert client_address(request) == counted_as


def test_the_limits_are_settings(tmp_path):
    base = {"PORTAL_SECRET_KEY": "k"}
    defaults = Settings.from_env(environ=base, cwd=tmp_path)
    assert (defaults.registrations_per_ip_per_minute, defaults.registrations_per_email_per_minute) == (20, 5)
    chosen = Settings.from_env(
        environ={**base, "PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE": "0", "PORTAL_REGISTRATIONS_PER_EMAIL_PER_MINUTE": "3"},
        cwd=tmp_path,
    )
    assert (chosen.registrations_per_ip_per_minute, chosen.registrations_per_email_per_minute) == (0, 3)
    for bad in ("-1", "many"):
        with pytest.raises(SettingsError):
            Settings.from_env(environ={**base, "PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE": bad}, cwd=tmp_path)

"""Signing in and out: Argon2id, the session cookie, throttling, idle timeout."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from argon2 import PasswordHasher
from itsdangerous import URLSafeSerializer
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.accounts import passwords
from portal.app import create_app
from portal.db import utcnow
from portal.models import Organiser
from portal.web.backoffice import auth
from tests.conftest import BASE_URL
from tests.web.backoffice.conftest import PASSWORD, attempt, sign_in, token


def session_cookie(client: TestClient) -> str | None:
    return client.cookies.get(auth.COOKIE)


def test_sign_in_with_the_right_password(client, organiser, sessions):
    response = sign_in(client, organiser.email)
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/admin/"
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{auth.COOKIE}=")
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie and "Path=/admin" in set_cookie
    assert "Secure" not in set_cookie
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Olga Organiser" in page.text and "Sign out" in page.text
    with sessions() as session:
        assert session.scalar(select(Organiser.last_sign_in_at).where(Organiser.email == organiser.email)) is not None


def test_the_email_address_is_not_case_sensitive(client, organiser):
    assert sign_in(client, "  OLGA@Example.org ").status_code == 303


def test_a_wrong_password_or_unknown_account_is_refused_alike(client, organiser):
    wrong = sign_in(client, organiser.email, "not the password at all")
    unknown = sign_in(client, "nobody@example.org", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "do not match an active organiser account" in response.text
        assert session_cookie(client) is None
        assert PASSWORD not in response.text
    assert sign_in(client, organiser.email, "").status_code == 422


def test_the_cookie_is_secure_under_https(settings, organiser):
    app = create_app(dataclasses.replace(settings, base_url="https://portal.example.org"))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        response = sign_in(client, organiser.email)
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


def test_the_session_is_renewed_at_every_sign_in(client, organiser):
    sign_in(client, organiser.email)
    first = session_cookie(client)
    sign_in(client, organiser.email)
    second = session_cookie(client)
    assert first and second and first != second
    assert client.get("/admin/").status_code == 200


def test_a_forged_cookie_is_ignored(client, organiser):
    sign_in(client, organiser.email)
    value = session_cookie(client)
    assert value
    client.cookies.clear()
    client.cookies.set(auth.COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/admin/").status_code == 303


def test_sign_out_is_a_post_and_ends_the_session_everywhere(client, other_client, organiser):
    sign_in(client, organiser.email)
    sign_in(other_client, organiser.email)
    stolen = session_cookie(client)
    assert client.get("/admin/sign-out").status_code == 405
    response = client.post("/admin/sign-out", data={"csrf_token": token(client, "/admin/")})
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/admin/sign-in"
    assert client.get("/admin/").status_code == 303
    assert "You are signed out" in client.get("/admin/sign-in").text
    # The old cookie, replayed, and the other device's session are both over.
    assert other_client.get("/admin/").status_code == 303
    other_client.cookies.clear()
    other_client.cookies.set(auth.COOKIE, stolen)
    assert other_client.get("/admin/").status_code == 303


def test_the_session_ends_after_the_idle_time(client, organiser, settings, monkeypatch):
    sign_in(client, organiser.email)
    assert client.get("/admin/").status_code == 200
    idle = settings.session_idle_minutes * 60
    monkeypatch.setattr(auth, "_now", lambda: time.time() + idle + 5)
    response = client.get("/admin/events")
    assert response.status_code == 303
    assert "expired=1" in response.headers["location"]
    assert "next=%2Fadmin%2Fevents" in response.headers["location"]
    assert "without activity" in client.get(response.headers["location"]).text


def test_activity_keeps_the_session_alive(client, organiser, settings, monkeypatch):
    sign_in(client, organiser.email)
    idle = settings.session_idle_minutes * 60
    start = time.time()
    # A request two thirds of the way through the idle time refreshes the cookie...
    monkeypatch.setattr(auth, "_now", lambda: start + idle * 2 / 3)
    response = client.get("/admin/")
    assert response.status_code == 200 and auth.COOKIE in response.headers.get("set-cookie", "")
    # ...so a request a whole idle time after sign-in, but not after that one, still works.
    monkeypatch.setattr(auth, "_now", lambda: start + idle + 60)
    assert client.get("/admin/").status_code == 200


def test_sign_in_returns_to_the_page_asked_for_and_nowhere_else(client, organiser):
    assert sign_in(client, organiser.email, next="/admin/events?when=past").headers["location"] == "/admin/events?when=past"
    for bad in ("https://evil.example/admin", "//evil.example/admin", "/events", "/admin\\..\\x", "javascript:alert(1)"):
        assert sign_in(client, organiser.email, next=bad).headers["location"] == "http://testserver/admin/", bad


def test_five_failures_lock_the_account_from_that_address_only(client, settings, organiser, waits):
    for _ in range(4):
        assert sign_in(client, organiser.email, "wrong password here").status_code == 401
    locked = sign_in(client, organiser.email, "wrong password here")
    assert locked.status_code == 429
    assert "from this network" in locked.text and "try again in 15 minutes" in locked.text
    assert int(locked.headers["retry-after"]) > 800
    # The right password does not get through from that address while it is paused...
    assert sign_in(client, organiser.email).status_code == 429
    # ...but the organiser at another address signs in, after waiting a second at most (the
    # account's sixth check in 15 minutes comes a second after its fifth).
    with TestClient(create_app(settings), base_url=BASE_URL, follow_redirects=False, client=("198.51.100.7", 50000)) as own:
        assert sign_in(own, organiser.email).status_code == 303
    assert len(waits) <= 1 and all(0 < w <= 1 for w in waits)


def test_twenty_failures_from_one_address_lock_it_for_accounts_it_has_not_signed_in_to(settings, make_organiser):
    known, other = make_organiser(), make_organiser()
    with TestClient(create_app(settings), base_url=BASE_URL, follow_redirects=False, client=("203.0.113.5", 50000)) as office:
        assert sign_in(office, known.email).status_code == 303
        answers = [sign_in(office, f"guess{n}@example.org", "wrong password here").status_code for n in range(20)]
        assert answers == [401] * 19 + [429]
        assert sign_in(office, other.email).status_code == 429
        # Someone who signed in from this network before is not kept out by a stranger on it.
        assert sign_in(office, known.email).status_code == 303


def test_the_lock_is_kept_in_the_database_for_every_process(settings, organiser):
    first, second = create_app(settings), create_app(settings)
    with TestClient(first, base_url=BASE_URL, follow_redirects=False) as a, TestClient(second, base_url=BASE_URL, follow_redirects=False) as b:
        for _ in range(3):
            assert sign_in(a, organiser.email, "wrong password here").status_code == 401
        for _ in range(2):
            sign_in(b, organiser.email, "wrong password here")
        assert sign_in(a, organiser.email).status_code == 429


def test_the_lock_lifts_after_fifteen_minutes_and_success_clears_the_count(run, organiser):
    start = utcnow()
    answers = [attempt(run, organiser.email, "wrong", "10.0.0.1", start + timedelta(seconds=i)) for i in range(5)]
    assert answers == ["wrong"] * 4 + ["paused"]
    assert attempt(run, organiser.email, PASSWORD, "10.0.0.1", start + timedelta(minutes=14)) == "locked"
    later = start + timedelta(minutes=16)
    assert attempt(run, organiser.email, PASSWORD, "10.0.0.1", later) == "signed in"
    # After a success the address starts from nothing again.
    for i in range(4):
        assert attempt(run, organiser.email, "wrong", "10.0.0.1", later + timedelta(seconds=i)) == "wrong"
    assert attempt(run, organiser.email, PASSWORD, "10.0.0.1", later + timedelta(seconds=10)) == "signed in"


def test_failures_spread_over_more_than_the_window_do_not_lock(run, organiser):
    start = utcnow()
    for i in range(8):
        assert attempt(run, organiser.email, "wrong", "10.0.0.1", start + timedelta(minutes=4 * i)) == "wrong"


def test_the_password_is_argon2id_and_rehashed_when_parameters_change(client, organiser, sessions, monkeypatch):
    with sessions() as session:
        old_hash = session.scalar(select(Organiser.password_hash).where(Organiser.email == organiser.email))
    assert old_hash.startswith("$argon2id$")
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    assert stronger.check_needs_rehash(old_hash)
    monkeypatch.setattr(passwords, "HASHER", stronger)
    assert sign_in(client, organiser.email).status_code == 303
    with sessions() as session:
        new_hash = session.scalar(select(Organiser.password_hash).where(Organiser.email == organiser.email))
    assert new_hash != old_hash and not stronger.check_needs_rehash(new_hash)
    assert stronger.verify(new_hash, PASSWORD)


def test_changing_the_password(organiser_client, other_client, organiser):
    sign_in(other_client, organiser.email)
    page = organiser_client.get("/admin/account/password")
    from tests.conftest import csrf_from
    csrf = csrf_from(page.text)
    wrong = organiser_client.post("/admin/account/password", data={"csrf_token": csrf, "current": "nope", "new": "a brand new password", "confirm": "a brand new password"})
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    short = organiser_client.post("/admin/account/password", data={"csrf_token": csrf, "current": PASSWORD, "new": "short", "confirm": "short"})
    assert short.status_code == 422 and "at least 12 characters" in short.text
    done = organiser_client.post("/admin/account/password", data={"csrf_token": csrf, "current": PASSWORD, "new": "a brand new password", "confirm": "a brand new password"})
    assert done.status_code == 303
    assert organiser_client.get("/admin/").status_code == 200  # this session carries on
    assert other_client.get("/admin/").status_code == 303  # the other one is over
    assert sign_in(other_client, organiser.email, "a brand new password").status_code == 303


def test_guessing_the_current_password_is_paused_like_signing_in(organiser_client, other_client, organiser):
    from tests.conftest import csrf_from

    csrf = csrf_from(organiser_client.get("/admin/account/password").text)

    def change(current: str, new: str = "a brand new password"):  # type: ignore[no-untyped-def]
        return organiser_client.post("/admin/account/password", data={"csrf_token": csrf, "current": current, "new": new, "confirm": new})

    same = change(PASSWORD, PASSWORD)
    assert same.status_code == 400 and "the same as the current one" in same.text
    answers = [change(f"guess number {i}") for i in range(5)]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 429]
    assert "try again in 15 minutes" in answers[-1].text and answers[-1].headers["retry-after"]
    # Paused: the right password is refused too, here and at the sign-in form.
    assert change(PASSWORD).status_code == 429
    assert sign_in(other_client, organiser.email).status_code == 429


def test_the_session_ends_at_its_lifetime_however_active(client, organiser, settings, monkeypatch):
    sign_in(client, organiser.email)
    start = time.time()
    # A request every 50 minutes keeps the session from going idle, and each one re-signs
    # the cookie; the time of signing in goes along unchanged.
    for minutes in range(50, settings.session_max_hours * 60, 50):
        monkeypatch.setattr(auth, "_now", lambda m=minutes: start + m * 60)
        assert client.get("/admin/").status_code == 200, minutes
    monkeypatch.setattr(auth, "_now", lambda: start + settings.session_max_hours * 3600 + 5)
    response = client.get("/admin/events")
    assert response.status_code == 303
    assert "expired=limit" in response.headers["location"]
    assert f"at most {settings.session_max_hours} hours" in client.get(response.headers["location"]).text


def test_a_cookie_without_the_time_of_signing_in_is_over(client, organiser, settings):
    """Cookies made before sessions had a lifetime: their owners sign in once more."""
    sign_in(client, organiser.email)
    serializer = URLSafeSerializer(str(settings.secret_key), salt=auth.COOKIE_SALT)
    data = serializer.loads(session_cookie(client))
    del data["b"]
    client.cookies.clear()
    client.cookies.set(auth.COOKIE, serializer.dumps(data))
    assert client.get("/admin/").status_code == 303
    data["b"] = int(time.time())
    client.cookies.set(auth.COOKIE, serializer.dumps(data))
    assert client.get("/admin/").status_code == 200


def test_at_most_a_few_argon2_checks_run_at_once_in_a_process() -> None:
    """Each Argon2 check takes 64 MiB: a burst of sign-ins queues for app.ARGON2_AT_ONCE slots
    rather than running forty at once in the thread pool."""
    import threading
    from types import SimpleNamespace

    import anyio

    from portal.app import ARGON2_AT_ONCE

    running, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def check(_: int) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(5)
        with lock:
            running -= 1
        return True

    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(argon2_limiter=anyio.CapacityLimiter(ARGON2_AT_ONCE))))

    async def burst() -> None:
        async with anyio.create_task_group() as group:
            for i in range(3 * ARGON2_AT_ONCE):
                group.start_soon(auth._argon2, request, check, i)
            await anyio.sleep(0.3)
            release.set()

    anyio.run(burst)
    assert most == ARGON2_AT_ONCE

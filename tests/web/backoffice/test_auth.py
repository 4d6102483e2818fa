"""Signing in and out: Argon2id, the session cookie, throttling, idle timeout."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.accounts import passwords, signin
from portal.app import create_app
from portal.db import utcnow
from portal.models import Organiser
from portal.web.backoffice import auth
from tests.conftest import BASE_URL
from tests.web.backoffice.conftest import PASSWORD, sign_in, token


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


def test_five_failures_for_one_account_lock_it_for_fifteen_minutes(client, other_client, organiser):
    for _ in range(4):
        assert sign_in(client, organiser.email, "wrong password here").status_code == 401
    locked = sign_in(client, organiser.email, "wrong password here")
    assert locked.status_code == 429
    assert "try again in 15 minutes" in locked.text
    assert int(locked.headers["retry-after"]) > 800
    # The right password does not get through while locked, from anywhere.
    assert sign_in(client, organiser.email).status_code == 429
    assert sign_in(other_client, organiser.email).status_code == 429


def test_five_failures_from_one_address_lock_the_address(client, organiser, make_organiser):
    for n in range(5):
        sign_in(client, f"guess{n}@example.org", "wrong password here")
    assert sign_in(client, organiser.email).status_code == 429


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
    for i in range(5):
        result = run(signin.sign_in, organiser.email, "wrong", "10.0.0.1", now=start + timedelta(seconds=i))
    assert result.refused_until is not None
    assert run(signin.sign_in, organiser.email, PASSWORD, "10.0.0.2", now=start + timedelta(minutes=14)).actor is None
    later = start + timedelta(minutes=16)
    assert run(signin.sign_in, organiser.email, PASSWORD, "10.0.0.2", now=later).actor is not None
    # After a success the account starts from nothing again.
    for i in range(4):
        assert run(signin.sign_in, organiser.email, "wrong", f"10.0.1.{i}", now=later + timedelta(seconds=i)).refused_until is None
    assert run(signin.sign_in, organiser.email, PASSWORD, "10.0.2.1", now=later + timedelta(seconds=10)).actor is not None


def test_failures_spread_over_more_than_the_window_do_not_lock(run, organiser):
    start = utcnow()
    for i in range(8):
        result = run(signin.sign_in, organiser.email, "wrong", f"10.0.0.{i}", now=start + timedelta(minutes=4 * i))
        assert result.refused_until is None


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

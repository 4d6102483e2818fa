"""Signing in and out against the real server (`portal serve`: uvicorn with httptools), sent
as hostile clients send it: guesses from many addresses at once, a sign-in whose Argon2 is
slow, a cookie kept alive past its lifetime, a sign-out with a cookie that is over.

Client addresses come from X-Forwarded-For: `portal serve` trusts it from uvicorn's
FORWARDED_ALLOW_IPS, which is the loopback address unless set, so these tests stand where a
proxy in front of the portal would."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from itsdangerous import URLSafeSerializer

from portal.web.backoffice import auth
from tests.servers import free_port, running_portal
from tests.web.backoffice.conftest import PASSWORD

SECRET = "sign-in-server-test"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOME = "198.51.100.7"

# Loaded by the server under test through PYTHONPATH: Argon2's verify waits while the file
# ARGON2_HOLD names exists, after making ARGON2_HOLD.waiting to say it has begun. Nothing else
# can make the real server's password check last as long as a test needs.
HOLD_ARGON2 = '''
import os, time
from pathlib import Path

import argon2

_hold = Path(os.environ["ARGON2_HOLD"])
_verify = argon2.PasswordHasher.verify


def verify(self, hash, password):
    if _hold.exists():
        _hold.with_name(_hold.name + ".waiting").touch()
        deadline = time.monotonic() + 60
        while _hold.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return _verify(self, hash, password)


argon2.PasswordHasher.verify = verify
'''

# Loaded the same way: every wait for a sign-in's turn (accounts/throttle.py) is noted in the
# file TURNS names, one a line in seconds, and waited a tenth as long. Who is checked, who is
# refused and their Retry-After are decided when an attempt is counted, by the clock; the
# wait only holds the answer back until its turn, so a shorter one changes no answer (and
# spares the test ten seconds).
QUICK_TURNS = '''
import os
from pathlib import Path

from portal.web.backoffice import auth

_turns = Path(os.environ["TURNS"])
_sleep = auth._sleep


async def wait_a_tenth(seconds):
    with _turns.open("a") as out:
        out.write(f"{seconds}\\n")
    await _sleep(seconds / 10)


auth._sleep = wait_a_tenth
'''


def hooks(home: Path, code: str) -> str:
    """A directory holding `code` as sitecustomize.py, for the server's PYTHONPATH."""
    directory = home / "hooks"
    directory.mkdir()
    (directory / "sitecustomize.py").write_text(code)
    return str(directory)


@contextmanager
def serve(database_url: str, home: Path, **env: str) -> Iterator[str]:
    port = free_port()
    settings = {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "PORTAL_DELIVER_IN_PROCESS": "0",
        "FORWARDED_ALLOW_IPS": "",  # uvicorn's default: the loopback address
    }
    with running_portal(home, {**settings, **env}, port=port) as base:
        yield base


class Browser:
    """One browser (its own cookies) at one client address."""

    def __init__(self, base: str, address: str) -> None:
        self.client = httpx.Client(base_url=base, headers={"X-Forwarded-For": address}, timeout=30, follow_redirects=False)

    def token(self, path: str = "/admin/sign-in") -> str:
        match = CSRF.search(self.client.get(path).text)
        assert match, f"no CSRF field on {path}"
        return match.group(1)

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self.client.post("/admin/sign-in", data={"csrf_token": self.token(), "email": email, "password": password})

    def sign_out(self) -> httpx.Response:
        return self.client.post("/admin/sign-out", data={"csrf_token": self.token()})

    def signed_in(self) -> bool:
        return self.client.get("/admin/").status_code == 200

    @property
    def session(self) -> str:
        value = self.client.cookies.get(auth.COOKIE)
        assert value, "no session cookie"
        return value

    def use_session(self, value: str) -> None:
        self.client.cookies.set(auth.COOKIE, value, domain="127.0.0.1", path="/admin")


@pytest.fixture
def browser() -> Iterator[Callable[[str, str], Browser]]:
    """browser(base, address): a new Browser, closed at the end of the test."""
    made: list[Browser] = []

    def _make(base: str, address: str) -> Browser:
        made.append(Browser(base, address))
        return made[-1]

    yield _make
    for b in made:
        b.client.close()


def rewrite(cookie: str, **fields: Any) -> str:
    """The session cookie with some of its fields changed, signed as the server signs it: what a
    browser holding the cookie for that long would send."""
    serializer = URLSafeSerializer(SECRET, salt=auth.COOKIE_SALT)
    return serializer.dumps({**serializer.loads(cookie), **fields})


def test_a_stranger_guessing_does_not_lock_the_organiser_out(database_url, tmp_path, browser, organiser):
    with serve(database_url, tmp_path) as base:
        stranger = browser(base, "203.0.113.66")
        answers = [stranger.sign_in(organiser.email, f"guess {n}").status_code for n in range(7)]
        assert answers == [401, 401, 401, 401, 429, 429, 429]
        assert stranger.sign_in(organiser.email).status_code == 429
        # The organiser, from an address never used before, is not kept out.
        own = browser(base, HOME)
        assert own.sign_in(organiser.email).status_code == 303
        assert own.signed_in()


def test_guesses_from_many_addresses_at_once_are_paced_and_the_owner_still_signs_in(database_url, tmp_path, browser, organiser):
    """Fourteen addresses at once: five checked at once, four more in turn (1, 3, 6 and 10 s
    later), five refused unchecked because their turn was over 10 s away. Meanwhile the
    organiser, at the address they signed in from before, signs in without waiting a turn.
    The server waits a tenth of each turn's time (QUICK_TURNS) and notes what it was asked."""
    turns = tmp_path / "turns"
    with serve(database_url, tmp_path, PYTHONPATH=hooks(tmp_path, QUICK_TURNS), TURNS=str(turns)) as base:
        assert browser(base, HOME).sign_in(organiser.email).status_code == 303

        async def guess(client: httpx.AsyncClient) -> httpx.Response:
            page = await client.get("/admin/sign-in")
            match = CSRF.search(page.text)
            assert match
            return await client.post(
                "/admin/sign-in", data={"csrf_token": match.group(1), "email": organiser.email, "password": "a guess"}
            )

        async def attack() -> tuple[list[httpx.Response], httpx.Response]:
            clients = [
                httpx.AsyncClient(base_url=base, headers={"X-Forwarded-For": f"203.0.113.{n}"}, timeout=60) for n in range(14)
            ]
            try:
                guesses = [asyncio.ensure_future(guess(c)) for c in clients]
                for answered in asyncio.as_completed(guesses):
                    if (await answered).status_code == 429:
                        break  # the queue is full
                owner = await asyncio.to_thread(browser(base, HOME).sign_in, organiser.email)
                return await asyncio.gather(*guesses), owner
            finally:
                for c in clients:
                    await c.aclose()

        guesses, owner = asyncio.run(attack())
        assert owner.status_code == 303
        statuses = sorted(g.status_code for g in guesses)
        assert statuses == [401] * 9 + [429] * 5
        busy = [g for g in guesses if g.status_code == 429]
        assert all("taken one at a time" in g.text and 1 <= int(g.headers["retry-after"]) <= 10 for g in busy)
        # Only the paced guesses waited for a turn (not the five free ones, not the owner): the
        # last one let through, its turn 10 s after the fifth guess, for more than half of that,
        # as the guesses refused after it came before its turn was 5 s away (a second of grace).
        waited = [float(line) for line in turns.read_text().split()]
        assert 1 <= len(waited) <= 4 and all(0 < w <= 10 for w in waited), waited
        assert max(waited) > 4, waited


def test_a_sign_in_does_not_hold_the_write_lock_while_argon2_runs(database_url, tmp_path, browser, organiser, make_event):
    """While a sign-in's password check runs (held here for as long as the test likes), a
    registration, which must write, goes through. Before, the check ran inside the sign-in's
    writing transaction: on SQLite every write in the portal waited for every Argon2."""
    event = make_event()
    hold = tmp_path / "hold"
    with serve(database_url, tmp_path, PYTHONPATH=hooks(tmp_path, HOLD_ARGON2), ARGON2_HOLD=str(hold)) as base:
        hold.touch()
        with ThreadPoolExecutor(1) as pool:
            signing_in = pool.submit(browser(base, HOME).sign_in, organiser.email)
            try:
                deadline = time.monotonic() + 30
                while not hold.with_name("hold.waiting").exists():
                    assert time.monotonic() < deadline, "the sign-in never reached its password check"
                    time.sleep(0.01)
                visitor = browser(base, "192.0.2.10")
                path = f"/events/{event.slug}/register"
                data = {"csrf_token": visitor.token(path), "name": "Vera Visitor", "email": "vera@example.org", "consent": "y"}
                try:
                    registered = visitor.client.post(path, data=data, timeout=20)
                except httpx.TimeoutException:
                    pytest.fail("the registration waited for the sign-in's password check")
                assert registered.status_code == 303
                assert not signing_in.done()
            finally:
                hold.unlink()
            assert signing_in.result(timeout=30).status_code == 303


def test_a_session_ends_at_its_lifetime_however_active(database_url, tmp_path, browser, organiser):
    with serve(database_url, tmp_path) as base:
        own = browser(base, HOME)
        assert own.sign_in(organiser.email).status_code == 303
        now = int(time.time())
        # Busy all along (the last request a minute ago), signed in 11 hours ago: still on.
        own.use_session(rewrite(own.session, b=now - 11 * 3600, t=now - 60))
        assert own.signed_in()
        # Twelve hours and a minute after signing in, however busy: over.
        own.use_session(rewrite(own.session, b=now - 12 * 3600 - 60, t=now - 60))
        response = own.client.get("/admin/events")
        assert response.status_code == 303
        assert "expired=limit" in response.headers["location"]
        assert f'{auth.COOKIE}=""' in response.headers["set-cookie"]
        assert "at most 12 hours" in own.client.get(response.headers["location"]).text


def test_signing_out_with_a_session_that_is_over_ends_nothing(database_url, tmp_path, browser, organiser):
    with serve(database_url, tmp_path) as base:
        phone = browser(base, HOME)
        assert phone.sign_in(organiser.email).status_code == 303
        old = phone.session
        assert phone.sign_out().status_code == 303  # ends the phone's session (and any other)
        laptop = browser(base, HOME)
        assert laptop.sign_in(organiser.email).status_code == 303
        now = int(time.time())
        ended = {
            "kept from before the sign-out": old,
            "idle too long": rewrite(laptop.session, t=now - 121 * 60),
            "past its lifetime": rewrite(laptop.session, b=now - 13 * 3600, t=now),
        }
        for why, cookie in ended.items():
            someone = browser(base, "203.0.113.66")
            someone.use_session(cookie)
            response = someone.sign_out()
            assert response.status_code == 303
            assert f'{auth.COOKIE}=""' in response.headers["set-cookie"]
            assert laptop.signed_in(), f"a cookie {why} signed the laptop out"
        # The laptop's own, live cookie does end its session.
        assert laptop.sign_out().status_code == 303
        laptop.use_session(rewrite(old))
        assert not laptop.signed_in()

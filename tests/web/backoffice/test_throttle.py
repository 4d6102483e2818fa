"""The sign-in throttle's rules, at the service level (accounts/throttle.py): a lock per
account at one address, a lock per address, the account as a whole paced and never locked,
known addresses, and what many addresses together can get."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from portal.accounts import signin, throttle
from portal.db import utcnow
from portal.models import SignInThrottle, ThrottleScope
from tests.web.backoffice.conftest import PASSWORD, attempt


def _begin(run, email, address, now):  # type: ignore[no-untyped-def]
    return run(signin.begin_sign_in, email, address, now=now)


def test_a_stranger_locks_only_their_own_address_for_the_account(run, organiser):
    now = utcnow()
    answers = [attempt(run, organiser.email, "a guess", "203.0.113.66", now) for _ in range(5)]
    assert answers == ["wrong"] * 4 + ["paused"]
    assert attempt(run, organiser.email, PASSWORD, "203.0.113.66", now) == "locked"
    assert attempt(run, organiser.email, PASSWORD, "198.51.100.7", now + timedelta(seconds=1)) == "signed in"


def test_an_address_trying_many_accounts_is_locked_except_for_accounts_it_is_known_for(run, organiser, make_organiser):
    other = make_organiser()
    now = utcnow()
    assert attempt(run, organiser.email, PASSWORD, "203.0.113.5", now) == "signed in"
    answers = [attempt(run, f"guess{n}@example.org", "a guess", "203.0.113.5", now) for n in range(throttle.ADDRESS_LIMIT)]
    assert answers == ["wrong"] * (throttle.ADDRESS_LIMIT - 1) + ["paused"]
    assert attempt(run, other.email, PASSWORD, "203.0.113.5", now) == "locked"
    assert attempt(run, organiser.email, PASSWORD, "203.0.113.5", now) == "signed in"
    # A known address still has its own lock for the account.
    answers = [attempt(run, organiser.email, "a guess", "203.0.113.5", now) for _ in range(throttle.PAIR_LIMIT)]
    assert answers[-1] == "paused"
    assert attempt(run, organiser.email, PASSWORD, "203.0.113.5", now) == "locked"


def test_the_account_is_paced_and_a_full_queue_is_refused_unchecked(run, sessions, organiser):
    """Thirty addresses at the same moment: five checks at once, then turns 1, 2, 3, 4 s
    apart; the rest would wait more than 10 s, so they are refused at once, uncounted."""
    now = utcnow()
    begun = [_begin(run, organiser.email, f"203.0.113.{n}", now) for n in range(30)]
    admitted = [b for b in begun if isinstance(b, signin.Attempt)]
    assert [(b.check_at - now).total_seconds() for b in admitted] == [0, 0, 0, 0, 0, 1, 3, 6, 10]
    refused = begun[len(admitted):]
    assert all(isinstance(r, signin.Refusal) and r.busy for r in refused)
    assert {r.until - now for r in refused} == {timedelta(seconds=15) - throttle.MAX_WAIT}
    with sessions() as session:
        counted = session.scalar(select(SignInThrottle.failures).where(SignInThrottle.scope == ThrottleScope.ACCOUNT))
        pairs = session.scalar(
            select(func.count()).where(SignInThrottle.scope == ThrottleScope.ACCOUNT_ADDRESS, SignInThrottle.failures > 0)
        )
    assert counted == 9 and pairs == 9


def test_the_owner_at_a_known_address_skips_the_queue(run, organiser):
    now = utcnow()
    assert attempt(run, organiser.email, PASSWORD, "198.51.100.7", now) == "signed in"
    later = now + timedelta(hours=1)
    strangers = [_begin(run, organiser.email, f"203.0.113.{n}", later) for n in range(12)]
    assert isinstance(strangers[-1], signin.Refusal) and strangers[-1].busy
    # The queue is full: a new address waits its turn like any other...
    assert attempt(run, organiser.email, PASSWORD, "192.0.2.44", later) == "busy"
    # ...while the owner's usual address is checked at once.
    begun = _begin(run, organiser.email, "198.51.100.7", later)
    assert isinstance(begun, signin.Attempt) and begun.check_at == later
    assert attempt(run, organiser.email, PASSWORD, "198.51.100.7", later) == "signed in"


def test_many_addresses_cannot_check_more_than_a_hundred_passwords_in_fifteen_minutes(run, organiser):
    """The fastest guessing the rules allow: a new address for every attempt (so no address is
    ever locked), each sent the moment the queue has room (the refusal says when). The checks
    are counted by the turns the throttle handed out, not timed."""
    start = utcnow()
    checks = []
    now, n = start, 0
    while now < start + timedelta(hours=1):
        n += 1
        begun = _begin(run, organiser.email, f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", now)
        if isinstance(begun, signin.Refusal):
            assert begun.busy and begun.until > now
            now = begun.until
        else:
            assert begun.check_at - now <= throttle.MAX_WAIT
            checks.append(begun.check_at)
    first_window = [c for c in checks if c < start + throttle.WINDOW]
    # 5 at once, then gaps of 1, 2, … 9 s (45 s in all), then one every 10 s: 5 + 9 + 85.
    assert len(first_window) == 99
    per_hour = [c for c in checks if c < start + timedelta(hours=1)]
    assert len(per_hour) <= 4 * 100


def test_attempts_sent_together_cannot_pass_the_lock(run, organiser):
    """Every attempt is counted before its password is checked: twenty at once from one
    address get five checks, not twenty."""
    now = utcnow()
    results: list[object] = []
    barrier = threading.Barrier(20)

    def one() -> None:
        barrier.wait()
        results.append(_begin(run, organiser.email, "203.0.113.66", now))

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, signin.Attempt) for r in results) == throttle.PAIR_LIMIT
    assert all(isinstance(r, signin.Attempt) or not r.busy for r in results)


def test_an_unknown_account_is_throttled_like_a_real_one(run, organiser):
    now = utcnow()
    real = [attempt(run, organiser.email, "a guess", "203.0.113.1", now) for _ in range(7)]
    unknown = [attempt(run, "nobody@example.org", "a guess", "203.0.113.2", now) for _ in range(7)]
    assert real == unknown == ["wrong"] * 4 + ["paused", "locked", "locked"]


def test_a_password_changed_while_it_was_checked_does_not_sign_in(run, organiser):
    now = utcnow()
    begun = _begin(run, organiser.email, "198.51.100.7", now)
    verdict = signin.check_password(begun, PASSWORD)
    assert verdict.matched
    changed = run(signin.begin_sign_in, organiser.email, "198.51.100.8", now=now)
    key = run(signin.change_password, organiser, changed, signin.check_password(changed, PASSWORD), "$argon2id$new", now=now)
    assert key is not None
    assert run(signin.finish_sign_in, begun, verdict, now=now).actor is None


def test_old_rows_are_forgotten_and_known_addresses_kept_for_thirty_days(run, sessions, organiser):
    start = utcnow()
    assert attempt(run, organiser.email, PASSWORD, "198.51.100.7", start) == "signed in"
    attempt(run, organiser.email, "a guess", "203.0.113.66", start)
    _begin(run, "someone@example.org", "192.0.2.1", start + timedelta(days=2))

    def keys() -> set[tuple[str, str]]:
        with sessions() as session:
            return {(r.scope.value, r.key) for r in session.scalars(select(SignInThrottle))}

    assert (ThrottleScope.ACCOUNT_ADDRESS.value, f"198.51.100.7 {organiser.email}") in keys()
    assert not any("203.0.113.66" in key for _, key in keys())
    _begin(run, "someone@example.org", "192.0.2.1", start + timedelta(days=31))
    assert not any(organiser.email in key for _, key in keys())

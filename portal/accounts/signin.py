"""Signing in: checking a password, throttling failed attempts per account and per client
address, the session an organiser's cookie names, and changing one's own password (which
counts wrong guesses like sign-ins)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.accounts.organisers import actor_of, new_session_key
from portal.accounts.passwords import check_password_rules, dummy_hash, hash_password, needs_rehash, password_matches
from portal.audit import Actor, record
from portal.db import utcnow
from portal.errors import InvalidInput, NotFound
from portal.models import Organiser, SignInThrottle, ThrottleScope
from portal.text import normalise_email

FAILURE_LIMIT = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
_FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class SignInResult:
    """`actor` is set on success. `refused_until` is set while the account or the address is
    locked out; `failures` counts recent failures, for slowing the answer down."""

    actor: Actor | None = None
    session_key: str | None = None
    refused_until: datetime | None = None
    failures: int = 0


def _throttle_row(session: Session, scope: ThrottleScope, key: str) -> SignInThrottle | None:
    return session.scalar(
        select(SignInThrottle).where(SignInThrottle.scope == scope, SignInThrottle.key == key).with_for_update()
    )


def _count_failure(session: Session, scope: ThrottleScope, key: str, row: SignInThrottle | None, now: datetime) -> SignInThrottle:
    if row is None:
        row = SignInThrottle(scope=scope, key=key, failures=0, window_started_at=now, updated_at=now)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # Another process recorded the first failure a moment ago: count on its row.
            row = _throttle_row(session, scope, key)
            assert row is not None
    if now - row.window_started_at > FAILURE_WINDOW:
        row.failures = 0
        row.window_started_at = now
    row.failures += 1
    row.updated_at = now
    if row.failures >= FAILURE_LIMIT:
        row.locked_until = now + LOCKOUT
        row.failures = 0
        row.window_started_at = now
    return row


def sign_in(session: Session, email: str, password: str, address: str, *, now: datetime | None = None) -> SignInResult:
    """Check an email and password. After FAILURE_LIMIT failures in FAILURE_WINDOW for one
    account or one client address, refuse every attempt for LOCKOUT, right or wrong."""
    now = now or utcnow()
    email = normalise_email(email)[:254]
    address = (address or "unknown")[:254]
    rows = {
        ThrottleScope.ACCOUNT: _throttle_row(session, ThrottleScope.ACCOUNT, email),
        ThrottleScope.ADDRESS: _throttle_row(session, ThrottleScope.ADDRESS, address),
    }
    locked = [r.locked_until for r in rows.values() if r is not None and r.locked_until and r.locked_until > now]
    if locked:
        return SignInResult(refused_until=max(locked))

    organiser = session.scalar(select(Organiser).where(Organiser.email == email))
    matches = password_matches(organiser.password_hash if organiser else dummy_hash(), password)
    if organiser is None or not organiser.active or not matches:
        counted = [
            _count_failure(session, ThrottleScope.ACCOUNT, email, rows[ThrottleScope.ACCOUNT], now),
            _count_failure(session, ThrottleScope.ADDRESS, address, rows[ThrottleScope.ADDRESS], now),
        ]
        session.execute(delete(SignInThrottle).where(SignInThrottle.updated_at < now - _FORGET_AFTER))
        just_locked = [r.locked_until for r in counted if r.locked_until and r.locked_until > now]
        return SignInResult(refused_until=max(just_locked) if just_locked else None, failures=max(r.failures for r in counted))

    if needs_rehash(organiser.password_hash):
        organiser.password_hash = hash_password(password)
    organiser.last_sign_in_at = now
    if rows[ThrottleScope.ACCOUNT] is not None:
        session.delete(rows[ThrottleScope.ACCOUNT])
    return SignInResult(actor=actor_of(organiser), session_key=organiser.session_key)


def session_actor(session: Session, organiser_id: int, session_key: str) -> Actor | None:
    """The organiser a session cookie names, if the account is active and the key current."""
    organiser = session.get(Organiser, organiser_id)
    if organiser is None or not organiser.active:
        return None
    if not hmac.compare_digest(organiser.session_key.encode(), session_key.encode()):
        return None
    return actor_of(organiser)


def end_sessions(session: Session, organiser_id: int) -> None:
    """Sign the organiser out everywhere: every cookie carrying the old key stops working."""
    organiser = session.get(Organiser, organiser_id)
    if organiser is not None:
        organiser.session_key = new_session_key()


@dataclass(frozen=True)
class PasswordChange:
    session_key: str | None = None  # the new key, when the password is changed
    wrong_current: bool = False
    refused_until: datetime | None = None


def change_password(session: Session, actor: Actor, current: str, new: str, *, now: datetime | None = None) -> PasswordChange:
    """Replace the actor's password; the new session key ends every other session.

    A wrong current password counts as a failed sign-in of the account (and is returned, not
    raised, so that the count is kept): otherwise a borrowed session could guess the password
    here without limit. While the account is paused, the change is refused like a sign-in."""
    now = now or utcnow()
    organiser = session.get(Organiser, actor.id)
    if organiser is None:
        raise NotFound("Your account no longer exists.")
    row = _throttle_row(session, ThrottleScope.ACCOUNT, organiser.email)
    if row is not None and row.locked_until and row.locked_until > now:
        return PasswordChange(refused_until=row.locked_until)
    if not password_matches(organiser.password_hash, current):
        row = _count_failure(session, ThrottleScope.ACCOUNT, organiser.email, row, now)
        locked = row.locked_until if row.locked_until and row.locked_until > now else None
        return PasswordChange(wrong_current=True, refused_until=locked)
    if hmac.compare_digest(current.encode(), new.encode()):
        raise InvalidInput("The new password is the same as the current one: choose a different one.")
    check_password_rules(new)
    organiser.password_hash = hash_password(new)
    organiser.session_key = new_session_key()
    record(session, actor, "organiser.password", after={"email": organiser.email})
    return PasswordChange(session_key=organiser.session_key)

"""Organiser accounts: adding them, signing in (Argon2id, throttled), roles, passwords."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.errors import AlreadyExists, InvalidInput, NotAllowed, NotFound
from portal.models import Organiser, SignInThrottle, ThrottleScope
from portal.services.audit import Actor, record

# Argon2id with the library's current recommended parameters. When they change, a password
# is rehashed with the new ones at its owner's next sign-in.
HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
FAILURE_LIMIT = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
_FORGET_AFTER = timedelta(days=1)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def new_session_key() -> str:
    return secrets.token_urlsafe(32)


def actor_of(organiser: Organiser) -> Actor:
    return Actor(id=organiser.id, email=organiser.email, name=organiser.name, is_admin=organiser.is_admin)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"A password can have at most {MAX_PASSWORD_LENGTH} characters.")


def add_organiser(
    session: Session,
    email: str,
    password: str,
    *,
    name: str = "",
    is_admin: bool = False,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Actor:
    """Create an organiser account; the email address must be new."""
    now = now or utcnow()
    email = normalise_email(email)
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput(f"{email!r} is not a complete email address.")
    check_password_rules(password)
    if session.scalar(select(Organiser.id).where(Organiser.email == email)) is not None:
        raise AlreadyExists(f"There is already an organiser account for {email}.")
    organiser = Organiser(
        email=email,
        name=name.strip(),
        password_hash=HASHER.hash(password),
        is_admin=is_admin,
        active=True,
        session_key=new_session_key(),
        created_at=now,
    )
    session.add(organiser)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AlreadyExists(f"There is already an organiser account for {email}.") from None
    record(session, actor, "organiser.add", after={"email": email, "name": organiser.name, "is_admin": is_admin}, now=now)
    return actor_of(organiser)


# --- signing in ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInResult:
    """`actor` is set on success. `refused_until` is set while the account or the address is
    locked out; `failures` counts recent failures, for slowing the answer down."""

    actor: Actor | None = None
    session_key: str | None = None
    refused_until: datetime | None = None
    failures: int = 0


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the account does not exist, so that an unknown address takes as
    # long to refuse as a wrong password and the timing tells nothing.
    return HASHER.hash(secrets.token_urlsafe(16))


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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
    matches = _password_matches(organiser.password_hash if organiser else _dummy_hash(), password)
    if organiser is None or not organiser.active or not matches:
        counted = [
            _count_failure(session, ThrottleScope.ACCOUNT, email, rows[ThrottleScope.ACCOUNT], now),
            _count_failure(session, ThrottleScope.ADDRESS, address, rows[ThrottleScope.ADDRESS], now),
        ]
        session.execute(delete(SignInThrottle).where(SignInThrottle.updated_at < now - _FORGET_AFTER))
        just_locked = [r.locked_until for r in counted if r.locked_until and r.locked_until > now]
        return SignInResult(refused_until=max(just_locked) if just_locked else None, failures=max(r.failures for r in counted))

    if HASHER.check_needs_rehash(organiser.password_hash):
        organiser.password_hash = HASHER.hash(password)
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
    if not _password_matches(organiser.password_hash, current):
        row = _count_failure(session, ThrottleScope.ACCOUNT, organiser.email, row, now)
        locked = row.locked_until if row.locked_until and row.locked_until > now else None
        return PasswordChange(wrong_current=True, refused_until=locked)
    if hmac.compare_digest(current.encode(), new.encode()):
        raise InvalidInput("The new password is the same as the current one: choose a different one.")
    check_password_rules(new)
    organiser.password_hash = HASHER.hash(new)
    organiser.session_key = new_session_key()
    record(session, actor, "organiser.password", after={"email": organiser.email})
    return PasswordChange(session_key=organiser.session_key)


# --- managing accounts (admins) --------------------------------------------------------------


def list_organisers(session: Session) -> list[Organiser]:
    return list(session.scalars(select(Organiser).order_by(Organiser.active.desc(), Organiser.email)))


CHANGES = {
    "make_admin": ("is_admin", True),
    "remove_admin": ("is_admin", False),
    "deactivate": ("active", False),
    "reactivate": ("active", True),
}


def update_organiser(session: Session, actor: Actor, organiser_id: int, change: str) -> Organiser:
    """Give or take the admin role, deactivate or reactivate an account. Admins only."""
    if not actor.is_admin:
        raise NotAllowed("Only admins can change organiser accounts.")
    if change not in CHANGES:
        raise InvalidInput("That is not a change the portal knows.")
    organiser = session.get(Organiser, organiser_id)
    if organiser is None:
        raise NotFound("There is no such organiser account.")
    if organiser.id == actor.id and change in ("remove_admin", "deactivate"):
        # Keeps at least one admin: the one acting. Another admin can do it if it must be done.
        raise NotAllowed("You cannot take away your own admin role or deactivate your own account; ask another admin.")
    column, value = CHANGES[change]
    before = getattr(organiser, column)
    if before != value:
        setattr(organiser, column, value)
        if change == "deactivate":
            organiser.session_key = new_session_key()
        record(session, actor, f"organiser.{change}", before={"email": organiser.email, column: before}, after={"email": organiser.email, column: value})
    return organiser

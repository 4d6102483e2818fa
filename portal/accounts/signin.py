"""Signing in: letting an attempt through the throttle (accounts/throttle.py), checking its
password, and recording the outcome; the session an organiser's cookie names; changing
one's own password (whose current password is checked like a sign-in's).

A sign-in is three steps, so that the slow part holds no lock: begin_sign_in() counts the
attempt and reads the password hash in one short writing transaction; check_password()
runs Argon2 outside any transaction (in the thread pool, after the attempt's turn comes);
finish_sign_in() records a success in another short one. On SQLite, where a writing
transaction holds the database's one write lock, Argon2 inside it made every sign-in
attempt stop every registration for as long as the hash took."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts import throttle
from portal.accounts.organisers import actor_of, new_session_key
from portal.accounts.passwords import check_password_rules, dummy_hash, hash_password, needs_rehash, password_matches
from portal.accounts.throttle import Refusal
from portal.audit import Actor, record
from portal.db import utcnow
from portal.errors import InvalidInput, NotFound
from portal.models import Organiser
from portal.text import normalise_email


@dataclass(frozen=True)
class Attempt:
    """An attempt the throttle let through: check its password no earlier than `check_at`,
    against `password_hash` (None: no active account has that email address, and a dummy
    hash is checked instead, so that the answer takes as long). `paused_until`: until when
    a wrong password now has its client address refused."""

    email: str
    address: str
    check_at: datetime
    organiser_id: int | None
    password_hash: str | None = field(repr=False)
    paused_until: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    matched: bool
    # The password hashed again, when the stored hash has older parameters than HASHER's.
    new_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SignInResult:
    """`actor` and `session_key` are set when the organiser is signed in."""

    actor: Actor | None = None
    session_key: str | None = None


def _keys(email: str, address: str) -> tuple[str, str]:
    return normalise_email(email)[:254], (address or "unknown")[:100]


def begin_sign_in(session: Session, email: str, address: str, *, now: datetime | None = None) -> Attempt | Refusal:
    """Count an attempt to sign in as `email` from `address`, or refuse it (throttle.py)."""
    email, address = _keys(email, address)
    # Without a given time, admit reads the clock once it holds the account's row: read
    # before, an attempt that waited for the lock would seem further from its turn than it is.
    admission = throttle.admit(session, email, address, now)
    if isinstance(admission, Refusal):
        return admission
    organiser = session.scalar(select(Organiser).where(Organiser.email == email))
    return Attempt(
        email=email,
        address=address,
        check_at=admission.check_at,
        organiser_id=organiser.id if organiser is not None else None,
        password_hash=organiser.password_hash if organiser is not None and organiser.active else None,
        paused_until=admission.paused_until,
    )


def check_password(attempt: Attempt, password: str) -> Verdict:
    """Whether the password is the attempt's account's (slow: run it outside any transaction)."""
    stored = attempt.password_hash
    matched = password_matches(stored or dummy_hash(), password) and stored is not None
    if matched and stored is not None and needs_rehash(stored):
        return Verdict(True, new_hash=hash_password(password))
    return Verdict(matched)


def _right(session: Session, attempt: Attempt, verdict: Verdict) -> Organiser | None:
    """The attempt's organiser, if the password was right and the account is still active
    with the password that was checked (it may have changed while the check ran)."""
    if not verdict.matched or attempt.organiser_id is None:
        return None
    organiser = session.get(Organiser, attempt.organiser_id)
    if organiser is None or not organiser.active or organiser.password_hash != attempt.password_hash:
        return None
    return organiser


def finish_sign_in(session: Session, attempt: Attempt, verdict: Verdict, *, now: datetime | None = None) -> SignInResult:
    """Sign the organiser in if the password was right. A wrong one was counted already."""
    now = now or utcnow()
    organiser = _right(session, attempt, verdict)
    if organiser is None:
        return SignInResult()
    throttle.succeeded(session, attempt.email, attempt.address, now)
    if verdict.new_hash is not None:
        organiser.password_hash = verdict.new_hash
    organiser.last_sign_in_at = now
    return SignInResult(actor=actor_of(organiser), session_key=organiser.session_key)


def session_actor(session: Session, organiser_id: int, session_key: str) -> Actor | None:
    """The organiser a session cookie names, if the account is active and the key current."""
    organiser = session.get(Organiser, organiser_id)
    if organiser is None or not organiser.active:
        return None
    if not hmac.compare_digest(organiser.session_key.encode(), session_key.encode()):
        return None
    return actor_of(organiser)


def end_sessions(session: Session, organiser_id: int, session_key: str) -> bool:
    """Sign the organiser out everywhere, if `session_key` is the account's current key:
    every cookie carrying it stops working. An old key ends nothing (returns False), so a
    cookie kept from an ended session cannot sign its owner out of their new one."""
    organiser = session.get(Organiser, organiser_id)
    if organiser is None or not hmac.compare_digest(organiser.session_key.encode(), session_key.encode()):
        return False
    organiser.session_key = new_session_key()
    return True


def check_new_password(current: str, new: str) -> None:
    """Refuse a new password that breaks the rules or is the current one typed again (checked
    first: it needs no hash, and a mistake here should not count as a wrong password)."""
    if hmac.compare_digest(current.encode(), new.encode()):
        raise InvalidInput("The new password is the same as the current one: choose a different one.")
    check_password_rules(new)


def change_password(
    session: Session, actor: Actor, attempt: Attempt, verdict: Verdict, new_hash: str, *, now: datetime | None = None
) -> str | None:
    """Replace the actor's password with `new_hash`, once the current one was checked as a
    sign-in attempt (begin_sign_in, check_password): otherwise a borrowed session could guess
    the password here without limit. Returns the new session key, which ends every other
    session; None if the current password was wrong (or changed while it was checked)."""
    now = now or utcnow()
    organiser = session.get(Organiser, actor.id)
    if organiser is None:
        raise NotFound("Your account no longer exists.")
    if organiser.id != attempt.organiser_id or _right(session, attempt, verdict) is None:
        return None
    throttle.succeeded(session, attempt.email, attempt.address, now)
    organiser.password_hash = new_hash
    organiser.session_key = new_session_key()
    record(session, actor, "organiser.password", after={"email": organiser.email})
    return organiser.session_key

"""Sign-in throttling: how many password checks an account, a client address, and an account
from one address may have, and when.

Locking an account as a whole after a few failures would let anyone who knows an
organiser's email address keep them out, from anywhere. So the lock is on the account *at
one address*, and the account as a whole is only paced:

- One account from one address: PAIR_LIMIT checks not proven right within WINDOW refuse
  that address for that account for LOCKOUT (429 with Retry-After). This stops one who
  guesses, not the account's owner elsewhere.
- One address, over every account: ADDRESS_LIMIT refuse the address for LOCKOUT (someone
  trying many accounts), except for an account it is known for (below).
- One account, from every address: never refused for failures, only paced. The first
  FREE_ATTEMPTS checks within WINDOW run at once; after that the checks take turns, the
  next 1 s after the one before, then 2 s, 3 s… (PACE_STEP more each time) up to PACE_MAX.
  An attempt waits for its turn (the server answers it that much later); one whose turn is
  more than MAX_WAIT away is answered 429 at once, unchecked and uncounted. Taking turns is
  what makes this a rate: a delay per answer alone would not slow attempts sent side by
  side from many addresses.
- An address the account signed in from within KNOWN_FOR is known for it: its attempts skip
  the account's queue and the address's lock, so the owner at their usual address signs in
  at once while strangers anywhere, even on the same network, are held back; guesses from it
  still meet the pair lock.

So however many addresses guess at one account, its password is checked at most 100 times
in 15 minutes (5 at once, then gaps of 1 to 9 s, then one every 10 s), about 400 an hour
(tests/web/backoffice/test_throttle.py counts them).

Every attempt is counted as it is let through, before its password is checked (which is
slow, and runs outside any transaction): counting only after a wrong answer would let
attempts sent together all pass a count none of them had raised yet. The right password
takes its own count back, and clears its pair. Counts live in the database, so every process
on every host shares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from portal.db import upsert, utcnow
from portal.models import SignInThrottle, ThrottleScope

WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
PAIR_LIMIT = 5
ADDRESS_LIMIT = 20
FREE_ATTEMPTS = 5
PACE_STEP = timedelta(seconds=1)
PACE_MAX = timedelta(seconds=10)
MAX_WAIT = timedelta(seconds=10)
KNOWN_FOR = timedelta(days=30)
# Rows untouched this long go (a known pair's row stays as long as it is known), a batch at
# a time, swept by the attempts that come later.
FORGET_AFTER = timedelta(days=1)
_FORGET_BATCH = 100


@dataclass(frozen=True)
class Admission:
    """An attempt let through: check its password no earlier than `check_at`. If it proves
    wrong, `paused_until` says until when its address is now refused (for this account or
    for all), so the answer can say so at once."""

    check_at: datetime
    paused_until: datetime | None = None


@dataclass(frozen=True)
class Refusal:
    """An attempt refused unchecked, until `until`. `busy`: the account's queue is full (it is
    paced, not locked); otherwise the address is locked, for this account or for all."""

    until: datetime
    busy: bool = False


def pair_key(email: str, address: str) -> str:
    return f"{address} {email}"


def gap(count: int) -> timedelta:
    """The least time between an account's next check and its last, once `count` checks are
    counted within the window: none up to FREE_ATTEMPTS - 1, then PACE_STEP more each time."""
    return min(PACE_MAX, max(timedelta(0), PACE_STEP * (count - FREE_ATTEMPTS + 1)))


def _row(session: Session, scope: ThrottleScope, key: str, now: datetime) -> SignInThrottle:
    """The row for (scope, key), made if need be, locked until the transaction ends.

    Made first, then locked: if two attempts could both find no row and decide on that,
    twenty sent at once would all pass a lock that a row would have held back. The insert
    waits for a racing one and then does nothing; the select waits for the row's lock."""
    session.execute(
        upsert(session, SignInThrottle)
        .values(scope=scope, key=key, failures=0, window_started_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["scope", "key"])
    )
    return session.scalars(
        select(SignInThrottle).where(SignInThrottle.scope == scope, SignInThrottle.key == key).with_for_update()
    ).one()


def _count(row: SignInThrottle, now: datetime, limit: int | None = None) -> datetime | None:
    """Count one attempt on the row; return the lock it sets, if this one reaches `limit`."""
    if now - row.window_started_at > WINDOW:
        row.failures = 0
        row.window_started_at = now
    row.failures += 1
    row.updated_at = now
    if limit is not None and row.failures >= limit:
        row.locked_until = now + LOCKOUT
        return row.locked_until
    return None


def _live(moment: datetime | None, now: datetime) -> datetime | None:
    return moment if moment is not None and moment > now else None


def _known(pair: SignInThrottle, now: datetime) -> bool:
    return pair.signed_in_at is not None and now - pair.signed_in_at < KNOWN_FOR


def admit(session: Session, email: str, address: str, now: datetime | None = None) -> Admission | Refusal:
    """Let a password check for `email` from `address` through, counted, or refuse it.

    Rows are locked in one order (account, address, pair), here and in succeeded(), so two
    attempts never wait for each other in a circle. Without `now`, the clock is read once
    the account's row is locked (the wait for it is not time this attempt stood in line)."""
    clock = now is None
    now = now or utcnow()
    account = _row(session, ThrottleScope.ACCOUNT, email, now)
    if clock:
        now = utcnow()
    by_address = _row(session, ThrottleScope.ADDRESS, address, now)
    pair = _row(session, ThrottleScope.ACCOUNT_ADDRESS, pair_key(email, address), now)
    known = _known(pair, now)
    locks = [_live(pair.locked_until, now), None if known else _live(by_address.locked_until, now)]
    if until := max((lock for lock in locks if lock is not None), default=None):
        return Refusal(until)
    check_at = now
    if not known and account.next_check_at is not None:
        check_at = max(now, account.next_check_at)
        if check_at - now > MAX_WAIT:
            return Refusal(check_at - MAX_WAIT, busy=True)

    _count(account, now)
    if not known:
        account.next_check_at = check_at + gap(account.failures)
    locks = [_count(pair, now, PAIR_LIMIT), _count(by_address, now, None if known else ADDRESS_LIMIT)]
    _forget(session, now)
    return Admission(check_at, paused_until=max((lock for lock in locks if lock is not None), default=None))


def succeeded(session: Session, email: str, address: str, now: datetime) -> None:
    """The password was right: take back the attempt's count, clear its pair and remember the
    address as known for the account."""
    for scope, key in ((ThrottleScope.ACCOUNT, email), (ThrottleScope.ADDRESS, address)):
        row = _row(session, scope, key, now)
        row.failures = max(0, row.failures - 1)
    pair = _row(session, ThrottleScope.ACCOUNT_ADDRESS, pair_key(email, address), now)
    pair.failures = 0
    pair.locked_until = None
    pair.window_started_at = pair.signed_in_at = pair.updated_at = now


def _forget(session: Session, now: datetime) -> None:
    # SKIP LOCKED (PostgreSQL): an old row another attempt has just locked is about to be
    # fresh again; waiting for it could wait in a circle with that attempt's own sweep.
    stale = session.scalars(
        select(SignInThrottle.id)
        .where(
            SignInThrottle.updated_at < now - FORGET_AFTER,
            or_(SignInThrottle.signed_in_at.is_(None), SignInThrottle.signed_in_at < now - KNOWN_FOR),
        )
        .limit(_FORGET_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    if stale:
        session.execute(delete(SignInThrottle).where(SignInThrottle.id.in_(stale)))

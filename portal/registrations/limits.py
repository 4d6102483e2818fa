"""Rate limits on the public registration form: per client address and per email address.

The counts are rows in the database, not in a process's memory, so that every `portal
serve` worker on every host behind a load balancer counts against the same allowance: a
limit kept per process would let N processes take N times the allowance, and a balancer
that spreads requests would make it unpredictable. A use is counted inside the same
transaction as the registration it allows, after locking the counter row, so two racing
requests cannot both take the last use; a refusal rolls back and counts nothing.

The window is fixed (a minute from the first use), which is simple to explain in a message
("try again in 40 seconds") and costs one row per key.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.errors import PortalError
from portal.models import LimitScope, RateLimit
from portal.registrations import participants
from portal.registrations.participants import Outcome, Submission
from portal.site import Site
from portal.text import normalise_email

WINDOW = timedelta(minutes=1)
# Rows whose window ended this long ago are deleted, a few at a time, by later uses.
FORGET_AFTER = timedelta(hours=1)
_FORGET_BATCH = 100
_SWEEP_CHANCE = 0.05


class TooManyRequests(PortalError):
    """A rate limit is spent; `retry_after` says in how many seconds it is not."""

    status_code = 429
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RegistrationLimits:
    """Registrations allowed per minute from one client address and for one email address;
    0 means no limit."""

    per_ip: int
    per_email: int


def _forget_old_rows(session: Session, now: datetime) -> None:
    # SKIP LOCKED (PostgreSQL): never wait for, or make wait, another request that is using a
    # row; SQLite has one writer at a time and ignores it.
    stale = session.scalars(
        select(RateLimit.id)
        .where(RateLimit.updated_at < now - FORGET_AFTER)
        .limit(_FORGET_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    if stale:
        session.execute(delete(RateLimit).where(RateLimit.id.in_(stale)))


def hit(session: Session, scope: LimitScope, key: str, limit: int, *, now: datetime | None = None) -> int | None:
    """Count one use of `key` in `scope`, allowing `limit` uses per WINDOW. Returns None if the
    use is allowed, else the seconds until the window ends.

    One statement (INSERT … ON CONFLICT DO UPDATE … RETURNING) counts the use, starting a new
    window when the old one is over; the row stays locked until the transaction ends, so two
    racing requests cannot both take the last use. A refused use is counted here too, but the
    caller's refusal rolls the whole transaction back, so it leaves nothing behind."""
    if limit <= 0:
        return None
    now = now or utcnow()
    statement = _hit_statement(session.get_bind().dialect.name)
    # On the connection, not through the ORM: the statement is built once, and a rate limit's
    # row is bookkeeping that no page shows.
    row = session.connection().execute(statement, {"scope": scope, "key": key[:254], "now": now, "expired_before": now - WINDOW})
    hits, started = row.one()
    if hits > limit:
        return max(1, math.ceil((started + WINDOW - now).total_seconds()))
    return None


@lru_cache(maxsize=4)
def _hit_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE ... RETURNING for one use, with its values as bound
    parameters: built and compiled once per dialect rather than on every registration."""
    table = RateLimit.__table__
    columns = table.c
    now = bindparam("now", type_=columns.updated_at.type)
    expired = columns.window_started_at <= bindparam("expired_before", type_=columns.window_started_at.type)
    insert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table).values(
        scope=bindparam("scope", type_=columns.scope.type), key=bindparam("key", type_=columns.key.type),
        hits=1, window_started_at=now, updated_at=now,
    )
    return insert.on_conflict_do_update(
        index_elements=[columns.scope, columns.key],
        set_={
            "hits": case((expired, 1), else_=columns.hits + 1),
            "window_started_at": case((expired, now), else_=columns.window_started_at),
            "updated_at": now,
        },
    ).returning(columns.hits, columns.window_started_at)


@dataclass(frozen=True)
class Throttle:
    """One public form's two limits (per client address, per email address) and the words of
    its refusals."""

    ip_scope: LimitScope
    email_scope: LimitScope
    # "Many registrations have come from your network", "Several registrations for this email
    # address have been sent", "Nothing was registered".
    from_network: str
    for_address: str
    nothing_done: str


REGISTER = Throttle(
    LimitScope.REGISTER_IP, LimitScope.REGISTER_EMAIL, "Many registrations have come",
    "Several registrations for this email address have been sent", "Nothing was registered",
)
SUBSCRIBE = Throttle(
    LimitScope.SUBSCRIBE_IP, LimitScope.SUBSCRIBE_EMAIL, "Many requests to subscribe have come",
    "Several requests to subscribe this email address have been sent", "Nothing was sent",
)
LOST_LINK = Throttle(
    LimitScope.LOST_LINK_IP, LimitScope.LOST_LINK_EMAIL, "Many requests for lost links have come",
    "Several requests for this email address's links have been sent", "Nothing was sent",
)


def check(session: Session, throttle: Throttle, address: str, email: str, limits: RegistrationLimits, *, now: datetime | None = None) -> None:
    """Count one use of a public form from `address` for `email`, or raise TooManyRequests."""
    now = now or utcnow()
    # Old rows are swept by a few uses in a hundred, not by every one: the sweep is a query of
    # its own, and rows only need to go eventually.
    if random.random() < _SWEEP_CHANCE:
        _forget_old_rows(session, now)
    # Always the address first, then the email: one order of locking, so no deadlock.
    wait = hit(session, throttle.ip_scope, address, limits.per_ip, now=now)
    if wait is not None:
        raise TooManyRequests(
            f"{throttle.from_network} from your network in the last minute, so the portal is pausing new ones "
            f"from it. {throttle.nothing_done}; please send the form again in {wait} seconds.",
            wait,
        )
    wait = hit(session, throttle.email_scope, normalise_email(email), limits.per_email, now=now)
    if wait is not None:
        raise TooManyRequests(
            f"{throttle.for_address} in the last minute, so the portal is pausing new ones for it. "
            f"{throttle.nothing_done}; please send the form again in {wait} seconds.",
            wait,
        )


def check_registration(session: Session, address: str, email: str, limits: RegistrationLimits, *, now: datetime | None = None) -> None:
    """Count a registration from `address` for `email`, or raise TooManyRequests."""
    check(session, REGISTER, address, email, limits, now=now)


def register_within_limits(
    session: Session, site: Site, slug: str, submission: Submission, address: str, limits: RegistrationLimits
) -> Outcome:
    """Register as participants.register does, once the rate limits allow it."""
    check_registration(session, address, submission.email, limits)
    return participants.register(session, site, slug, submission)

"""Subscribing by email to new events: asking (double opt-in), confirming, changing one's
choices, leaving, and forgetting requests never confirmed.

No account: the subscriber's private token is the only key, in the links of their emails.
A request never says whether the address was known: a new or unconfirmed address is asked
to confirm, a subscribed one is sent the link to its preferences and nothing changes, and
the caller shows the same page in every case. Nothing but the request to confirm is sent
to an address until it is confirmed; an unconfirmed request is forgotten after
CONFIRM_WITHIN. Leaving deletes the row: nothing is kept of someone who left.

The audit log records each change with the subscriber's id and counts, never the address.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import email_validator
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.db import utcnow
from portal.errors import InvalidInput, NotFound
from portal.models import AuditActor, Frequency, LimitScope, OutboxMessage, Programme, Subscriber, public_categories
from portal.registrations.anonymise import forget_limits
from portal.registrations.limits import SUBSCRIBE, RegistrationLimits, check
from portal.site import Site
from portal.subscriptions import emails
from portal.text import normalise_email

# An unconfirmed request is forgotten this long after it was made.
CONFIRM_WITHIN = timedelta(days=7)
# What secrets.token_urlsafe makes; anything else is not a link the portal wrote.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
# The same characters the forms refuse in a one-line field (forms.fields.plain_line).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
# Categories as the listing offers them: those of events the public can see.
GONE = "This link is no longer valid: the subscription was ended, or was never confirmed and has been forgotten. You can subscribe again."


class SubscriptionProblem(InvalidInput):
    """Something asked for that the portal cannot take; `field` names the form field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Choices:
    """What a subscriber may choose from: programmes as (code, name) by name, and categories."""

    programmes: list[tuple[str, str]]
    categories: list[str]


@dataclass(frozen=True)
class Preferences:
    """A subscriber, their choices in words, and what the preferences form offers."""

    subscriber: Subscriber
    chosen: emails.Chosen
    choices: Choices


def new_token() -> str:
    return secrets.token_urlsafe(32)


def checked_email(email: str) -> str:
    """The address as stored (text.normalise_email), after the checks the registration form
    makes (forms.registration): present, at most 254 characters, one line, and an address
    email_validator accepts with the options WTForms' Email() gives it."""
    value = (email or "").strip()
    if not value:
        raise SubscriptionProblem("Enter your email address.", "email")
    if len(value) > 254:
        raise SubscriptionProblem("An email address has at most 254 characters.", "email")
    if _CONTROL.search(value):
        raise SubscriptionProblem("Remove the control characters or line breaks from this field.", "email")
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise SubscriptionProblem("Enter a complete email address, like name@example.org.", "email") from None
    return normalise_email(value)


def choices(session: Session, keep: Subscriber | None = None) -> Choices:
    """The programmes and the categories in use; with `keep`, also the categories that
    subscriber chose which no public event has now (so saving their preferences keeps them)."""
    programmes = [(code, name) for code, name in session.execute(select(Programme.code, Programme.name).order_by(Programme.name))]
    categories = public_categories(session)
    if keep is not None:
        categories = sorted({*categories, *(keep.categories or [])})
    return Choices(programmes, categories)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _checked_choices(
    session: Session, programmes: Iterable[str], categories: Iterable[str], frequency: Frequency | str, held: Subscriber | None = None
) -> tuple[list[str], list[str], Frequency]:
    codes, wanted = _unique(programmes), _unique(categories)
    if codes:
        known = set(session.scalars(select(Programme.code).where(Programme.code.in_(codes))))
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise SubscriptionProblem(f"There is no programme with the code {unknown[0]!r}. Choose from the programmes listed.", "programmes")
    if wanted:
        available = set(choices(session, keep=held).categories)
        unknown = [c for c in wanted if c not in available]
        if unknown:
            raise SubscriptionProblem(f"There is no category {unknown[0]!r}. Choose from the categories listed.", "categories")
    try:
        chosen = Frequency(frequency)
    except ValueError:
        raise SubscriptionProblem("Choose each new event or a weekly digest.", "frequency") from None
    return sorted(codes), sorted(wanted), chosen


def _summary(subscriber: Subscriber) -> dict[str, object]:
    """What the audit log keeps of a subscriber's choices: counts, never the address."""
    return {
        "subscriber": subscriber.id,
        "programmes": len(subscriber.programmes or []),
        "categories": len(subscriber.categories or []),
        "frequency": subscriber.frequency,
    }


def request_subscription(
    session: Session,
    site: Site,
    email: str,
    *,
    programmes: Iterable[str],
    categories: Iterable[str],
    frequency: Frequency | str,
    client: str,
    limits: RegistrationLimits,
    digest_weekday: int = 0,
    now: datetime | None = None,
) -> None:
    """Ask to subscribe `email`: a new or unconfirmed address gets (again) the request to
    confirm, with these choices; a confirmed one is sent the link to its preferences and
    nothing changes. Returns nothing, so that no caller can tell which it was.
    SubscriptionProblem for bad input, TooManyRequests past the limits (per client address
    and per email address, per minute)."""
    now = now or utcnow()
    address = checked_email(email)
    codes, wanted, chosen = _checked_choices(session, programmes, categories, frequency)
    check(session, SUBSCRIBE, client, address, limits, now=now)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == address).with_for_update())
    if subscriber is None:
        subscriber = Subscriber(
            email=address, token=new_token(), frequency=chosen, programmes=codes, categories=wanted, created_at=now, updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(subscriber)
                session.flush()
        except IntegrityError:
            # Another request made the same address's row between the look and the write
            # (only possible with no limit per address, whose row would have made it wait).
            subscriber = session.scalars(select(Subscriber).where(Subscriber.email == address).with_for_update()).one()
        else:
            audit.record(session, None, "subscription.request", after=_summary(subscriber), now=now, by=AuditActor.PARTICIPANT)
            emails.queue_confirmation(session, site, subscriber, digest_weekday)
            return
    if subscriber.confirmed_at is not None:
        if not _emailed_lately(session, address, now):
            emails.queue_known(session, site, subscriber, digest_weekday)
        return
    before = _summary(subscriber)
    subscriber.programmes, subscriber.categories, subscriber.frequency = codes, wanted, chosen
    # The seven days run from the latest request, whose link is the one to confirm.
    subscriber.created_at = subscriber.updated_at = now
    old, new = audit.diff(before, _summary(subscriber))
    audit.record(session, None, "subscription.request", before=old, after={"subscriber": subscriber.id, **new}, now=now, by=AuditActor.PARTICIPANT)
    if not _emailed_lately(session, address, now):
        emails.queue_confirmation(session, site, subscriber, digest_weekday)


# The form emails one address at most this many times a day, whoever asks: the per-minute
# limit alone would let someone send a stranger a confirmation every twelve seconds for
# ever. A request past it says nothing different (the page is the same).
EMAILS_A_DAY = 5


def _emailed_lately(session: Session, address: str, now: datetime) -> bool:
    sent = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.to_address == address,
            OutboxMessage.kind.in_((emails.CONFIRM, emails.KNOWN)),
            OutboxMessage.created_at > now - timedelta(days=1),
        )
    )
    return (sent or 0) >= EMAILS_A_DAY


def subscription_by_token(session: Session, token: str, *, lock: bool = False) -> Subscriber:
    """The subscriber a private token opens, or NotFound."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise NotFound(GONE)
    query = select(Subscriber).where(Subscriber.token == token)
    subscriber = session.scalar(query.with_for_update() if lock else query)
    # The lookup uses the unique index; the constant-time comparison guards the equality itself.
    if subscriber is None or not hmac.compare_digest(subscriber.token.encode(), token.encode()):
        raise NotFound(GONE)
    return subscriber


def preferences(session: Session, token: str, *, digest_weekday: int = 0) -> Preferences:
    """A subscriber with their choices in words and what the preferences form offers."""
    subscriber = subscription_by_token(session, token)
    return Preferences(subscriber, emails.chosen(session, subscriber, digest_weekday), choices(session, keep=subscriber))


def confirm(session: Session, token: str, now: datetime | None = None) -> Subscriber:
    """Confirm a subscription: from now on it receives what it chose. Confirming again
    changes nothing."""
    subscriber = subscription_by_token(session, token, lock=True)
    if subscriber.confirmed_at is None:
        now = now or utcnow()
        subscriber.confirmed_at = subscriber.updated_at = now
        audit.record(session, None, "subscription.confirm", after={"subscriber": subscriber.id}, now=now, by=AuditActor.PARTICIPANT)
    return subscriber


def update_preferences(
    session: Session,
    token: str,
    programmes: Iterable[str],
    categories: Iterable[str],
    frequency: Frequency | str,
    *,
    now: datetime | None = None,
) -> Subscriber:
    """Change what a subscriber receives. A category they hold stays choosable after the
    last public event of it is gone. SubscriptionProblem for an unknown choice."""
    subscriber = subscription_by_token(session, token, lock=True)
    codes, wanted, chosen = _checked_choices(session, programmes, categories, frequency, held=subscriber)
    before = _summary(subscriber)
    changed = (codes, wanted, chosen) != (sorted(subscriber.programmes or []), sorted(subscriber.categories or []), subscriber.frequency)
    if changed:
        now = now or utcnow()
        subscriber.programmes, subscriber.categories, subscriber.frequency = codes, wanted, chosen
        subscriber.updated_at = now
        old, new = audit.diff(before, _summary(subscriber))
        audit.record(session, None, "subscription.update", before=old, after={"subscriber": subscriber.id, **new}, now=now, by=AuditActor.PARTICIPANT)
    return subscriber


def leave(session: Session, token: str, *, now: datetime | None = None) -> None:
    """End a subscription: its row is deleted, address and all. NotFound when it is gone."""
    subscriber = subscription_by_token(session, token, lock=True)
    audit.record(session, None, "subscription.leave", before=_summary(subscriber), now=now or utcnow(), by=AuditActor.PARTICIPANT)
    session.delete(subscriber)
    session.flush()


def subscription_data(session: Session, token: str) -> dict[str, object]:
    """Everything held about a subscriber, for their download (not the token: it is the key
    to the page, not data about them)."""
    subscriber = subscription_by_token(session, token)

    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "email": subscriber.email,
        "frequency": str(subscriber.frequency),
        "programmes": list(subscriber.programmes or []),
        "categories": list(subscriber.categories or []),
        "confirmed_at": at(subscriber.confirmed_at),
        "created_at": at(subscriber.created_at),
        "updated_at": at(subscriber.updated_at),
    }


def erase(session: Session, token: str, *, now: datetime | None = None) -> None:
    """Erase a subscription at its owner's request: the row is deleted, and with it the
    emails the subscription sent or would send to the address (requests to confirm,
    announcements, digests). The audit log keeps the id alone. NotFound when it is gone."""
    subscriber = subscription_by_token(session, token, lock=True)
    session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.to_address == subscriber.email,
            OutboxMessage.registration_id.is_(None),
            or_(OutboxMessage.kind.in_((emails.CONFIRM, emails.KNOWN)), OutboxMessage.mailing_id.is_not(None)),
        ).execution_options(synchronize_session=False)
    )
    forget_limits(session, subscriber.email, (LimitScope.SUBSCRIBE_EMAIL,))
    audit.record(session, None, "subscriber.erase", before={"subscriber": subscriber.id}, now=now or utcnow(), by=AuditActor.PARTICIPANT)
    session.delete(subscriber)
    session.flush()


def forget_unconfirmed(session: Session, now: datetime | None = None) -> int:
    """Delete the requests not confirmed within CONFIRM_WITHIN of being made; how many.
    For the worker's housekeeping."""
    now = now or utcnow()
    cutoff = now - CONFIRM_WITHIN
    ids = list(session.scalars(select(Subscriber.id).where(Subscriber.confirmed_at.is_(None), Subscriber.created_at < cutoff)))
    if not ids:
        return 0
    forgotten = 0
    # Re-checked in the DELETE: a request confirmed since the look above stays.
    for start in range(0, len(ids), 500):
        done = session.execute(
            delete(Subscriber).where(Subscriber.id.in_(ids[start:start + 500]), Subscriber.confirmed_at.is_(None), Subscriber.created_at < cutoff)
            .execution_options(synchronize_session=False)
        )
        forgotten += done.rowcount  # type: ignore[attr-defined]
    if forgotten:
        audit.record(session, None, "subscription.forget_unconfirmed", after={"forgotten": forgotten}, now=now, by=AuditActor.PORTAL)
    return forgotten

"""Who each kind of mailing goes to, and the email each of them gets: the next batch of a
mailing's recipients after its cursor, as outbox rows ready to insert.

Announcements and digests are the same for every subscriber but for the links to their own
preferences, so each is rendered once per event (or per set of events, for digests) with a
marker where the subscriber's token goes, and the marker replaced per subscriber: a fan-out
to 50,000 subscribers renders a handful of templates, not 100,000. Reminders, follow-ups
and organisers' messages name each registrant and carry their private link, so they are
rendered one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from markupsafe import escape
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, object_session

from portal.mail import letters
from portal.mail.letters import Letter
from portal.mail.messages import calendar_attachment, registration_context, render
from portal.mail.tickets import ticket_attachment, ticket_context
from portal.models import (
    Event,
    EventMessage,
    EventStatus,
    Frequency,
    Mailing,
    MailingKind,
    Programme,
    Registration,
    RegistrationStatus,
    Subscriber,
)
from portal.site import Site

# Stands for a subscriber's token in a rendering shared by all of them: URL-safe, so that it
# survives a URL's quoting and HTML's escaping unchanged, and never part of a real token.
_TOKEN = "zz--subscriber--zz"
DIGEST_PERIOD = timedelta(days=7)
# Why an announcement stopped when its event was unpublished (publishing again resumes it).
UNPUBLISHED = "the event is no longer published"


@dataclass(frozen=True)
class ListOptions:
    """What the list headers need: the address that unsubscribes by email, if any."""

    list_mailbox: str | None = None


@dataclass
class Batch:
    """The outbox rows of one batch, the cursor after it, and whether the mailing is done
    (`note` says why it ended early, when it did)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    cursor: int = 0
    done: bool = False
    note: str = ""


def list_headers(site: Site, options: ListOptions, token: str) -> dict[str, str]:
    """RFC 2369 and RFC 8058 headers of an email to a subscriber: List-Id, List-Unsubscribe
    (the HTTPS link, and a mailto: when a mailbox is configured) and One-Click."""
    host = site.base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
    links = [f"<{site.url('unsubscribe', token=token)}>"]
    if options.list_mailbox:
        links.append(f"<mailto:{options.list_mailbox}?subject={quote('unsubscribe ' + token)}>")
    return {
        "List-Id": f"New events <events.{host}>",
        "List-Unsubscribe": ", ".join(links),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _choice_words(programmes: list[str], categories: list[str], names: dict[str, str]) -> str:
    """A subscriber's choice in words for the footer: programmes by name (`names`, code to
    name; a code no longer known as it is), categories as words ("book launch")."""
    parts = []
    if programmes:
        noun = "programme" if len(programmes) == 1 else "programmes"
        parts.append(f"{noun}: " + ", ".join(names.get(code, code) for code in programmes))
    if categories:
        noun = "category" if len(categories) == 1 else "categories"
        parts.append(f"{noun}: " + ", ".join(category.replace("-", " ") for category in categories))
    return "; ".join(parts) or "all events"


def wants(subscriber: Any, code: str | None, category: str) -> bool:
    programmes, categories = subscriber.programmes or [], subscriber.categories or []
    return (not programmes or code in programmes) and (not categories or category in categories)


def _subscribers(session: Session, frequency: Frequency, after: int, limit: int) -> list[Any]:
    return list(
        session.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.token, Subscriber.programmes, Subscriber.categories)
            .where(Subscriber.frequency == frequency, Subscriber.id > after, Subscriber.confirmed_at.is_not(None))
            .order_by(Subscriber.id)
            .limit(limit)
        )
    )


def _subscriber_row(mailing: Mailing, kind: str, site: Site, options: ListOptions, subscriber: Any, rendered: tuple[str, str, str], event_id: int | None) -> dict[str, Any]:
    subject, text, html = rendered
    names: dict[str, str] = {}
    session = object_session(mailing) if subscriber.programmes else None
    if session is not None:
        # The programmes' names, read once per batch (each batch is a session of its own) and
        # only when someone in it chose programmes.
        if "programme_names" not in session.info:
            session.info["programme_names"] = {code: name for code, name in session.execute(select(Programme.code, Programme.name))}
        names = session.info["programme_names"]
    words = _choice_words(subscriber.programmes or [], subscriber.categories or [], names)
    return {
        "kind": kind,
        "to_address": subscriber.email,
        "subject": subject,
        "body_text": text.replace(_TOKEN, subscriber.token).replace("zz--choice--zz", words),
        # A programme's name is organisers' text: escaped in the HTML part.
        "body_html": html.replace(_TOKEN, subscriber.token).replace("zz--choice--zz", str(escape(words))),
        "attachments": [],
        "headers": list_headers(site, options, subscriber.token),
        "mailing_id": mailing.id,
        "event_id": event_id,
    }


def _subscription_context(site: Site) -> dict[str, Any]:
    return {
        "site": site,
        "preferences_url": site.url("manage_subscription", token=_TOKEN),
        "unsubscribe_url": site.url("unsubscribe", token=_TOKEN),
        "subscriber_choice": "zz--choice--zz",
    }


def _announcement(session: Session, site: Site, options: ListOptions, mailing: Mailing, now: datetime, limit: int) -> Batch:
    event = session.get(Event, mailing.event_id) if mailing.event_id else None
    if event is None or event.status != EventStatus.PUBLISHED:
        return Batch(cursor=mailing.cursor, done=True, note=UNPUBLISHED)
    if event.ends_at <= now:
        return Batch(cursor=mailing.cursor, done=True, note="the event is over")
    programme = session.get(Programme, event.programme_id) if event.programme_id else None
    code = programme.code if programme else None
    again = mailing.key.startswith("reannounce:")
    rendered = render("announcement", {**_subscription_context(site), "event": event, "programme": programme, "again": again})
    subscribers = _subscribers(session, Frequency.EACH, mailing.cursor, limit)
    rows = [
        _subscriber_row(mailing, "announcement", site, options, s, rendered, event.id)
        for s in subscribers
        if wants(s, code, event.category)
    ]
    return Batch(rows, subscribers[-1].id if subscribers else mailing.cursor, len(subscribers) < limit)


@dataclass(frozen=True)
class DigestItem:
    event: Event
    programme: Programme | None
    code: str | None


def digest_items(session: Session, end: datetime, now: datetime) -> list[DigestItem]:
    """The events announced in the week before `end` that are still published and not over,
    by start."""
    announced = (
        select(Mailing.event_id)
        .where(Mailing.kind == MailingKind.ANNOUNCE, Mailing.created_at >= end - DIGEST_PERIOD, Mailing.created_at < end)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Event, Programme)
        .outerjoin(Programme, Programme.id == Event.programme_id)
        .where(Event.id.in_(announced), Event.status == EventStatus.PUBLISHED, Event.ends_at > now)
        .order_by(Event.starts_at, Event.id)
    ).all()
    return [DigestItem(event, programme, programme.code if programme else None) for event, programme in rows]


def _digest(session: Session, site: Site, options: ListOptions, mailing: Mailing, now: datetime, limit: int) -> Batch:
    items = digest_items(session, mailing.due_at, now)
    if not items:
        return Batch(cursor=mailing.cursor, done=True, note="no new events that week")
    subscribers = _subscribers(session, Frequency.WEEKLY, mailing.cursor, limit)
    renderings: dict[tuple[int, ...], tuple[str, str, str]] = {}
    rows = []
    for subscriber in subscribers:
        chosen = [item for item in items if wants(subscriber, item.code, item.event.category)]
        if not chosen:
            continue
        key = tuple(item.event.id for item in chosen)
        if key not in renderings:
            renderings[key] = render("digest", {**_subscription_context(site), "items": chosen})
        rows.append(_subscriber_row(mailing, "digest", site, options, subscriber, renderings[key], None))
    return Batch(rows, subscribers[-1].id if subscribers else mailing.cursor, len(subscribers) < limit)


def _registration_row(mailing: Mailing, kind: str, registration: Registration, rendered: tuple[str, str, str], **extra: Any) -> dict[str, Any]:
    subject, text, html = rendered
    return {
        "kind": kind,
        "to_address": registration.email,
        "subject": subject,
        "body_text": text,
        "body_html": html,
        "attachments": extra.pop("attachments", []),
        "headers": extra.pop("headers", {}),
        "mailing_id": mailing.id,
        "event_id": registration.event_id,
        "registration_id": registration.id,
    }


_AUTOMATIC = {"Auto-Submitted": "auto-generated"}


def _registrations(session: Session, mailing: Mailing, limit: int, *conditions: Any) -> list[Registration]:
    return list(
        session.scalars(
            select(Registration)
            # An anonymised registration has nobody to write to (registrations.retention).
            .where(Registration.event_id == mailing.event_id, Registration.id > mailing.cursor, Registration.anonymised_at.is_(None), *conditions)
            .order_by(Registration.id)
            .limit(limit)
        )
    )


def _reminder(session: Session, site: Site, options: ListOptions, mailing: Mailing, now: datetime, limit: int) -> Batch:
    event = session.get(Event, mailing.event_id) if mailing.event_id else None
    if event is None or event.status != EventStatus.PUBLISHED:
        return Batch(cursor=mailing.cursor, done=True, note="the event is cancelled or not published")
    if event.starts_at <= now:
        return Batch(cursor=mailing.cursor, done=True, note="the event had started")
    # Registered after the reminder was due: their confirmation was their reminder.
    registrations = _registrations(
        session, mailing, limit, Registration.status == RegistrationStatus.CONFIRMED, Registration.created_at <= mailing.due_at
    )
    rows = []
    for registration in registrations:
        ticket = ticket_context(site, registration)
        context = registration_context(site, event, registration, "REQUEST", ticket=ticket)
        attachments = [calendar_attachment(session, site, event, registration, "REQUEST")]
        if ticket is not None:
            attachments.append(ticket_attachment(registration))
        rows.append(_registration_row(mailing, "reminder", registration, render("reminder", context), attachments=attachments, headers=dict(_AUTOMATIC)))
    return Batch(rows, registrations[-1].id if registrations else mailing.cursor, len(registrations) < limit)


def followup_audience(session: Session, event_id: int, as_of: datetime) -> list[Any]:
    """Who an event's follow-up goes to: the confirmed who were checked in by `as_of` (when
    it began to go out), or, when nobody was, every confirmed registrant. Judged as of that
    moment, so that a check-in recorded during the fan-out changes nobody's email."""
    confirmed = Registration.status == RegistrationStatus.CONFIRMED
    came = Registration.checked_in_at.is_not(None) & (Registration.checked_in_at <= as_of)
    anyone_came = session.scalar(select(exists().where(Registration.event_id == event_id, confirmed, came)))
    return [confirmed, came] if anyone_came else [confirmed]


def _followup(session: Session, site: Site, options: ListOptions, mailing: Mailing, now: datetime, limit: int) -> Batch:
    event = session.get(Event, mailing.event_id) if mailing.event_id else None
    if event is None or event.status == EventStatus.CANCELLED:
        return Batch(cursor=mailing.cursor, done=True, note="the event was cancelled")
    if not event.followup:
        return Batch(cursor=mailing.cursor, done=True, note="the follow-up was removed")
    letter = Letter.prepare(event.followup.get("subject", ""), event.followup.get("body", ""))
    registrations = _registrations(session, mailing, limit, *followup_audience(session, event.id, mailing.created_at))
    rows = [
        _registration_row(mailing, "followup", r, letter.render(site, event, r), headers=dict(_AUTOMATIC))
        for r in registrations
    ]
    return Batch(rows, registrations[-1].id if registrations else mailing.cursor, len(registrations) < limit)


def _message(session: Session, site: Site, options: ListOptions, mailing: Mailing, now: datetime, limit: int) -> Batch:
    message = session.get(EventMessage, mailing.message_id) if mailing.message_id else None
    event = session.get(Event, mailing.event_id) if mailing.event_id else None
    if message is None or event is None:
        return Batch(cursor=mailing.cursor, done=True, note="the message or its event is gone")
    letter = Letter.prepare(message.subject, message.body)
    registrations = _registrations(session, mailing, limit, *letters.audience_conditions(event.id, message.audience))
    rows = [_registration_row(mailing, "message", r, letter.render(site, event, r)) for r in registrations]
    return Batch(rows, registrations[-1].id if registrations else mailing.cursor, len(registrations) < limit)


KINDS = {
    MailingKind.ANNOUNCE: _announcement,
    MailingKind.DIGEST: _digest,
    MailingKind.REMINDER: _reminder,
    MailingKind.FOLLOWUP: _followup,
    MailingKind.MESSAGE: _message,
}


def next_batch(session: Session, site: Site, options: ListOptions, mailing: Mailing, *, now: datetime, limit: int) -> Batch:
    """The next `limit` recipients of a mailing after its cursor, as outbox rows."""
    return KINDS[mailing.kind](session, site, options, mailing, now, limit)


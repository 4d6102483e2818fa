"""Email: messages are rendered from templates and written to the outbox in the caller's
transaction, so a change and the email that announces it commit (or fail) together.

Every message about a registration carries the private manage link and, when the
participant's calendar should change, the event as an iTIP .ics attachment built by the
same builder and UID as the feeds: METHOD:REQUEST adds or updates a confirmed seat,
METHOD:CANCEL removes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from sqlalchemy.orm import Session

from portal.calendars import ical
from portal.mail.tickets import ticket_attachment, ticket_context
from portal.models import Event, OutboxMessage, Programme, Registration, RegistrationStatus
from portal.site import Site
from portal.templating import date_range, make_environment

# Every kind of message, each with templates/email/{kind}.subject.txt, .txt and .html.
KINDS = (
    "received",
    "confirmed",
    "waitlisted",
    "promoted",
    "approved",
    "rejected",
    "cancelled",
    "event_changed",
    "event_cancelled",
    "already_registered",
    "nomination_endorsed",
    "nomination_declined",
    "session_promoted",
    "session_changed",
    "session_cancelled",
    # The links of every registration of one address (mail.lostlinks), not about one registration.
    "lost_links",
)

# Kinds that put the event in the participant's calendar, if they hold a seat.
_SEAT_KINDS = {"confirmed", "promoted", "approved", "event_changed", "already_registered"}
# Kinds that take it out again.
_CANCEL_KINDS = {"cancelled", "event_cancelled"}
# Kinds that carry the ticket (its QR code and check-in code), if they confirm a seat.
_TICKET_KINDS = {"confirmed", "promoted", "approved"}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The emails' Jinja environment: one per process, each template compiled once."""
    return make_environment()


def render(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Render (subject, text, html) of one kind of message from templates/email/."""
    env = environment()
    subject = env.get_template(f"email/{kind}.subject.txt").render(context)
    # One line, whatever a title holds: a line break in a header would start a new header.
    subject = " ".join(subject.split())
    context = {**context, "subject": subject}
    text = env.get_template(f"email/{kind}.txt").render(context)
    html = env.get_template(f"email/{kind}.html").render(context)
    return subject, text, html


@dataclass(frozen=True)
class Change:
    what: str
    now: str
    was: str = ""


def schedule_changes(event: Event, previous: dict[str, Any] | None) -> list[Change]:
    """What an edit changed in an event's time or place, in words, from `previous` (the
    values of its schedule fields before the edit)."""
    if not previous:
        return []
    old = {key: previous.get(key, getattr(event, key)) for key in ("starts_at", "ends_at", "timezone", "all_day", "venue", "address", "online_url")}
    changes = []
    now_when = date_range(event.starts_at, event.ends_at, event.timezone, event.all_day)
    was_when = date_range(old["starts_at"], old["ends_at"], old["timezone"], old["all_day"])
    if now_when != was_when:
        changes.append(Change("When", now_when, was_when))
    now_where = ", ".join(p for p in (event.venue, event.address) if p)
    was_where = ", ".join(p for p in (old["venue"], old["address"]) if p)
    if now_where != was_where:
        changes.append(Change("Where", now_where or "to be announced", was_where or "not given"))
    if (old["online_url"] or None) != (event.online_url or None):
        changes.append(Change("Online", "the joining link has changed" if event.online_url else "no longer online"))
    return changes


def calendar_method(kind: str, registration: Registration, *, held_seat: bool | None = None) -> str | None:
    """The iTIP METHOD of the .ics a message carries, or None for no attachment.

    A seat (confirmed, promoted, approved, and the event's changes or a repeated
    registration while confirmed) is a REQUEST. Losing it is a CANCEL: the registration
    cancelled or rejected, or the whole event cancelled, but only for a registration that
    held a seat (`held_seat`; when the caller does not say, whether it is or was confirmed).
    Pending and waitlisted participants were never sent the event, so nothing in their
    calendar needs cancelling.
    """
    if kind in _SEAT_KINDS:
        return "REQUEST" if registration.status == RegistrationStatus.CONFIRMED else None
    if kind in _CANCEL_KINDS or kind == "rejected":
        if held_seat is None:
            held_seat = registration.status == RegistrationStatus.CONFIRMED or registration.confirmed_at is not None
        return "CANCEL" if held_seat else None
    return None


def calendar_attachment(
    session: Session, site: Site, event: Event, registration: Registration, method: str
) -> dict[str, str]:
    """The event as an iTIP message (METHOD:REQUEST or CANCEL) for one participant."""
    programme = session.get(Programme, event.programme_id) if event.programme_id else None
    content = ical.event_calendar(
        [(event, programme)],
        site=site,
        name=event.title,
        timezone_name=event.timezone,
        method=method,
        attendee=registration.email,
    )
    filename = "cancel.ics" if method == "CANCEL" else "invite.ics"
    return {
        "filename": filename,
        "content_type": f"text/calendar; charset=utf-8; method={method}",
        "content": content.decode("utf-8"),
    }


def registration_context(
    site: Site, event: Event, registration: Registration, method: str | None, **extra: Any
) -> dict[str, Any]:
    """What the templates of a message about one registration are given."""
    return {
        "site": site,
        "event": event,
        "registration": registration,
        "manage_url": site.manage_url(registration.token),
        "event_url": site.event_url(event.slug),
        "position": None,
        "calendar_method": method,
        "changes": [],
        "ticket": None,
        # The conference sessions it chose, as (session, waiting) in time order, where the
        # message lists them (the confirmation of a registration that chose some).
        "chosen_sessions": [],
        # What the organisers wrote for the people a roster action emails (plain text).
        "organiser_note": "",
        **extra,
    }


def queue_registration_message(
    session: Session,
    site: Site,
    kind: str,
    registration: Registration,
    event: Event,
    *,
    held_seat: bool | None = None,
    **extra: Any,
) -> OutboxMessage:
    """Queue a message about one registration, with its private manage link and, when the
    participant's calendar should change, the event as an .ics attachment; a message that
    confirms a seat carries the ticket."""
    method = calendar_method(kind, registration, held_seat=held_seat)
    changes = schedule_changes(event, extra.get("previous")) if kind == "event_changed" else []
    ticket = ticket_context(site, registration) if kind in _TICKET_KINDS else None
    context = registration_context(site, event, registration, method, changes=changes, ticket=ticket, **extra)
    subject, text, html = render(kind, context)
    attachments = [calendar_attachment(session, site, event, registration, method)] if method else []
    if ticket is not None:
        attachments.append(ticket_attachment(registration))
    message = OutboxMessage(
        kind=kind,
        to_address=registration.email,
        subject=subject,
        body_text=text,
        body_html=html,
        attachments=attachments,
        event_id=event.id,
        registration_id=registration.id,
    )
    session.add(message)
    return message


def queue_endorsement_request(
    session: Session,
    site: Site,
    registration: Registration,
    event: Event,
    programme: Programme | None,
    officer: str,
    authority: str,
) -> OutboxMessage:
    """Queue the nominating officer's private link to endorse or decline a nomination. It
    names the participant and the nominating authority they gave; it never carries the
    participant's own manage link."""
    assert registration.endorsement_token
    context = {
        "site": site,
        "event": event,
        "programme": programme,
        "registration": registration,
        "authority": authority,
        "endorse_url": site.url("endorse_nomination", token=registration.endorsement_token),
        "event_url": site.event_url(event.slug),
    }
    subject, text, html = render("endorsement_request", context)
    message = OutboxMessage(
        kind="endorsement_request",
        to_address=officer,
        subject=subject,
        body_text=text,
        body_html=html,
        attachments=[],
        event_id=event.id,
        registration_id=registration.id,
    )
    session.add(message)
    return message

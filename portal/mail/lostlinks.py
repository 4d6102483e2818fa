"""The email that answers "Lost your link?": the private manage links of one address's
registrations for events that have not ended, each with its event's title, time (in the
event's zone, named) and status. Written to the outbox in the caller's transaction, like
every other message; only ever sent to the address the registrations belong to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.mail.messages import render
from portal.models import Event, OutboxMessage, Registration
from portal.site import Site

KIND = "lost_links"


@dataclass(frozen=True)
class Held:
    """One registration as the email lists it."""

    registration: Registration
    event: Event
    position: int | None  # on the waiting list; None when not on it
    manage_url: str
    event_url: str
    data_url: str  # the page of everything held about the address, and its erasure


def queue_lost_links(
    session: Session, site: Site, email: str, held: Sequence[tuple[Registration, Event, int | None]], *, past: Registration | None = None,
) -> OutboxMessage:
    """Queue one email to `email` listing the registrations `held` (registration, event,
    waiting-list position), in the order given, with their private links; with none held,
    the link to the data of `past`, a registration for an event that has ended."""
    items = [
        Held(r, e, position, site.manage_url(r.token), site.event_url(e.slug), site.url("show_own_data", token=r.token))
        for r, e, position in held
    ]
    # The name the address gave last: the greeting of a message about several registrations.
    name = max((r for r, _, _ in held), key=lambda r: (r.created_at, r.id)).name if held else (past.name if past else "")
    past_data_url = site.url("show_own_data", token=past.token) if past is not None and not held else None
    subject, text, html = render(KIND, {
        "site": site, "email": email, "name": name, "items": items, "lost_url": site.url("lost_link"), "past_data_url": past_data_url,
    })
    message = OutboxMessage(kind=KIND, to_address=email, subject=subject, body_text=text, body_html=html, attachments=[])
    session.add(message)
    return message

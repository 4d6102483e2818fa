"""'Lost your link?': an address in, one email out with the private links of that address's
registrations for events that have not ended.

The visitor is never told whether the address is known: the caller shows the same page
whatever happened. An unknown address gets nothing (there is nothing to send, and an email
would tell a stranger's inbox that someone tried). The form is throttled like the others,
per client address and per email address, and sends one address at most EMAILS_A_DAY such
emails a day whoever asks, so that it cannot be used to flood someone's inbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.mail import lostlinks
from portal.models import Event, OutboxMessage, Registration
from portal.registrations.limits import LOST_LINK, RegistrationLimits, check
from portal.registrations.seats import waitlist_position
from portal.site import Site
from portal.text import normalise_email

EMAILS_A_DAY = 3


def _emailed_today(session: Session, address: str, now: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.to_address == address,
            OutboxMessage.kind == lostlinks.KIND,
            OutboxMessage.created_at > now - timedelta(days=1),
        )
    ) or 0


def held_registrations(session: Session, address: str, now: datetime) -> list[tuple[Registration, Event]]:
    """The address's registrations for events that have not ended, soonest event first."""
    rows = session.execute(
        select(Registration, Event)
        .join(Event, Event.id == Registration.event_id)
        .where(Registration.email == address, Event.ends_at > now)
        .order_by(Event.starts_at, Event.id, Registration.id)
    ).all()
    return [(registration, event) for registration, event in rows]


def send_lost_links(session: Session, site: Site, email: str, *, client: str, limits: RegistrationLimits, now: datetime | None = None) -> None:
    """Email `email` the links of its registrations for events to come, if it has any, or
    else the link to its data when past registrations still hold some.
    Returns nothing, so that no caller can tell; TooManyRequests past the limits."""
    now = now or utcnow()
    address = normalise_email(email)
    check(session, LOST_LINK, client, address, limits, now=now)
    held = held_registrations(session, address, now)
    # With nothing to come, the newest past registration that still holds data opens "Your
    # data" (every registration of the address, to download or erase).
    past = None if held else session.scalars(
        select(Registration).where(Registration.email == address, Registration.anonymised_at.is_(None))
        .order_by(Registration.created_at.desc(), Registration.id.desc()).limit(1)
    ).first()
    if (not held and past is None) or _emailed_today(session, address, now) >= EMAILS_A_DAY:
        return
    listed = [(registration, event, waitlist_position(session, registration)) for registration, event in held]
    lostlinks.queue_lost_links(session, site, address, listed, past=past)

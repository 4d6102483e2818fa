"""Email about one session of a conference to someone who chose it: it moved (a new time or
room, or back on the programme after a cancellation), or it is cancelled. Rendered like every
message about a registration (messages.queue_registration_message: the manage link, the
participant's status), with the session and what changed in words.

The calendar: a participant's personal feed holds the sessions they chose, each its own
VEVENT under the session's UID. Whoever holds a place in it with a confirmed seat is sent the
session as an iTIP attachment (calendars.sessions.session_calendar, the feeds' own builder),
METHOD:REQUEST for a change and METHOD:CANCEL for a cancellation (`session_method`), so that
a calendar which took it from an email updates too. Those waiting for a place, or for a
seat, have nothing in their calendar to change.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from portal.calendars.sessions import session_calendar
from portal.mail.messages import Change, queue_registration_message
from portal.models import Event, EventSession, OutboxMessage, Registration, RegistrationStatus, Speaker
from portal.site import Site

SESSION_KINDS = ("session_changed", "session_cancelled")


def session_method(kind: str, registration: Registration, *, holds_place: bool) -> str | None:
    """The iTIP METHOD of the session's .ics for this participant, or None for none: only a
    confirmed registration holding a place has the session in its calendar."""
    if not holds_place or registration.status != RegistrationStatus.CONFIRMED:
        return None
    return "CANCEL" if kind == "session_cancelled" else "REQUEST"


def session_attachment(
    site: Site, event: Event, chosen: EventSession, speakers: Sequence[Speaker], registration: Registration, method: str
) -> dict[str, str]:
    """The session as an iTIP message (METHOD:REQUEST or CANCEL) for one participant, from the
    builder of the feeds' session VEVENTs (same UID, same SEQUENCE)."""
    content = session_calendar(chosen, event, speakers, site=site, method=method, attendee=registration.email)
    return {
        "filename": "cancel.ics" if method == "CANCEL" else "invite.ics",
        "content_type": f"text/calendar; charset=utf-8; method={method}",
        "content": content.decode("utf-8"),
    }


def queue_session_message(
    session: Session,
    site: Site,
    kind: str,
    registration: Registration,
    event: Event,
    chosen: EventSession,
    *,
    speakers: Sequence[Speaker],
    changes: list[Change],
    holds_place: bool,
) -> OutboxMessage:
    """Queue `kind` (session_changed or session_cancelled) about `chosen` to one participant
    who chose it, saying what changed, with their manage link and, when it is in their
    calendar, the session's .ics."""
    if kind not in SESSION_KINDS:
        raise ValueError(f"not a message about a session: {kind}")
    method = session_method(kind, registration, holds_place=holds_place)
    message = queue_registration_message(
        session, site, kind, registration, event,
        chosen_session=chosen, session_changes=changes, session_waiting=not holds_place, session_calendar=method,
    )
    if method is not None:
        message.attachments = [*message.attachments, session_attachment(site, event, chosen, speakers, registration, method)]
    return message

"""A conference's sessions as iCalendar VEVENTs: in the event's feed (when asked for), one
session's own .ics, a participant's personal feed, and an email's iTIP attachment. Built
with ical.py's pieces and rules (times in UTC, DTSTAMP the last change in a published feed,
blocks kept per process while they would come out the same).

Each session is a VEVENT of its own with the UID made when it was created, RELATED-TO its
event (RELTYPE=PARENT), its room before the event's venue in LOCATION, and its speakers and
page in DESCRIPTION.

SEQUENCE is the session's own plus its event's. Each only ever rises: the session's when its
time, room or status changes (catalogue/timetable.save_session), the event's when its time,
place or status does. A session's entry shows the event's venue and the event's status (a
cancelled event cancels every session), so either change must reach a calendar that holds
the session, and a sum of two rising numbers rises whenever either does.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime, timezone

import icalendar

from portal.calendars.ical import (
    ORGANISATION,
    event_uid,
    itip_block,
    location,
    mark_tentative,
    not_yet_seated,
    scheduling_calendar,
    vevent_blocks,
)
from portal.calendars.plaintext import clean_line, plain_text
from portal.models import Event, EventSession, EventStatus, SessionStatus, Speaker
from portal.site import Site


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def session_cancelled(item: EventSession, event: Event) -> bool:
    """Whether the session is off: cancelled itself, or its whole event is."""
    return item.status == SessionStatus.CANCELLED or event.status == EventStatus.CANCELLED


def session_sequence(item: EventSession, event: Event) -> int:
    """The session's SEQUENCE (the module's docstring says why it is a sum)."""
    return (item.sequence or 0) + (event.sequence or 0)


def session_summary(item: EventSession, event: Event) -> str:
    """The title a calendar shows; "Cancelled:" first when it is off, for the clients that
    ignore STATUS:CANCELLED (ical.summary does the same for events)."""
    title = clean_line(item.title)
    return f"Cancelled: {title}" if session_cancelled(item, event) else title


def session_location(item: EventSession, event: Event) -> str:
    """The room, then the event's venue and address."""
    return ", ".join(p for p in (clean_line(item.room), location(event)) if p)


def speaker_line(speaker: Speaker) -> str:
    name, affiliation = clean_line(speaker.name), clean_line(speaker.affiliation)
    return f"{name} ({affiliation})" if affiliation else name


def session_description(item: EventSession, event: Event, speakers: Sequence[Speaker], url: str) -> str:
    """The session's Markdown as plain text, with its speakers, track, event and page."""
    parts = [plain_text(item.description)]
    if speakers:
        parts.append("Speakers: " + "; ".join(speaker_line(s) for s in speakers))
    if item.track:
        parts.append(f"Track: {clean_line(item.track)}")
    parts.append(f"Part of {clean_line(event.title)}: {url}")
    return "\n\n".join(p for p in parts if p)


def session_url(item: EventSession, event: Event, site: Site) -> str:
    return site.url("show_session", slug=event.slug, key=item.key)


def last_change(item: EventSession, speakers: Sequence[Speaker]) -> datetime:
    """The session's LAST-MODIFIED (and DTSTAMP in a feed): its own last change or its
    speakers'. Not its event's: an edit to the event's description would otherwise make
    every session's block again (80 ms for the demo conference, against a few for the one
    event's), and what a session's entry shows of its event that matters to a calendar, the
    place and the status, raises the session's SEQUENCE when it changes."""
    return max([item.updated_at, *(s.updated_at for s in speakers)])


def _add_own(component: icalendar.Event, item: EventSession, event: Event, speakers: Sequence[Speaker], site: Site, stamp: datetime | None) -> None:
    """The properties that show the session alone (and its event's slug, in its URL)."""
    changed = last_change(item, speakers)
    component.add("uid", item.uid)
    component.add("dtstamp", _utc(stamp or changed))
    component.add("dtstart", _utc(item.starts_at))
    component.add("dtend", _utc(item.ends_at))
    component.add("url", session_url(item, event, site))
    component.add("created", _utc(item.created_at))
    component.add("last-modified", _utc(changed))
    categories = [str(item.kind).capitalize()]
    if item.track:
        categories.append(clean_line(item.track))
    component.add("categories", categories)
    component.add("class", "PUBLIC")
    component.add("transp", "OPAQUE")


def _add_shows_event(
    component: icalendar.Event, item: EventSession, event: Event, speakers: Sequence[Speaker], site: Site, method: str | None
) -> None:
    """The properties that show the event too (its title, venue, status, SEQUENCE): those an
    event-wide change touches."""
    component.add("summary", session_summary(item, event))
    component.add("description", session_description(item, event, speakers, session_url(item, event, site)))
    place = session_location(item, event)
    if place:
        component.add("location", place)
    component.add("related-to", event_uid(event), parameters={"RELTYPE": "PARENT"})
    component.add("sequence", session_sequence(item, event))
    cancelled = method == "CANCEL" or session_cancelled(item, event)
    component.add("status", "CANCELLED" if cancelled else "CONFIRMED")


def _vevent(
    item: EventSession, event: Event, speakers: Sequence[Speaker], site: Site, *, method: str | None, stamp: datetime | None
) -> icalendar.Event:
    component = icalendar.Event()
    _add_own(component, item, event, speakers, site, stamp)
    _add_shows_event(component, item, event, speakers, site, method)
    if method is not None:
        component.add("organizer", f"mailto:{site.mail_from}", parameters={"CN": ORGANISATION})
    return component


def _key(item: EventSession, event: Event, speakers: Sequence[Speaker], site: Site) -> Hashable:
    """Everything a session's block is made from that can change: the session (its own change
    time, SEQUENCE and status), what it shows of its event (named, not the event's change
    time, so that editing the event's description leaves its sessions' blocks as they are)
    and each speaker's last change."""
    return (
        "session", item.uid, item.updated_at, item.sequence, str(item.status),
        event.uid, event.slug, event.title, event.venue, event.address, bool(event.online_url), event.sequence, str(event.status),
        tuple((s.id, s.updated_at) for s in speakers), site.base_url,
    )


# A published session's VEVENT is made in two parts, each kept on its own: the properties that
# show its event (_add_shows_event) and the rest. Renaming a conference or moving its venue
# then makes only the first part of each of its sessions again: writing (and folding) the 112
# whole VEVENTs of the demo conference took about 50 ms, the target for its feed
# after a change. (Properties in a component have no order: RFC 5545, 3.6.)
_BEGIN, _END = b"BEGIN:VEVENT\r\n", b"END:VEVENT\r\n"


def _inner(component: icalendar.Event) -> bytes:
    """A VEVENT's content lines, folded, without its BEGIN and END."""
    return component.to_ical()[len(_BEGIN):-len(_END)]


def _own_key(item: EventSession, event: Event, speakers: Sequence[Speaker], site: Site) -> Hashable:
    """What the part that does not show the event is made from."""
    return ("session-own", item.uid, item.updated_at, event.slug, tuple((s.id, s.updated_at) for s in speakers), site.base_url)


def session_block(item: EventSession, event: Event, speakers: Sequence[Speaker], site: Site) -> bytes:
    """The session's VEVENT as a published feed has it, from the cache or made and kept."""
    key = _key(item, event, speakers, site)
    block = vevent_blocks.get(key)
    if block is None:
        own_key = _own_key(item, event, speakers, site)
        own = vevent_blocks.get(own_key)
        if own is None:
            component = icalendar.Event()
            _add_own(component, item, event, speakers, site, None)
            own = _inner(component)
            vevent_blocks.put(own_key, own)
        component = icalendar.Event()
        _add_shows_event(component, item, event, speakers, site, None)
        block = _BEGIN + own + _inner(component) + _END
        vevent_blocks.put(key, block)
    return block


def personal_session_block(item: EventSession, event: Event, speakers: Sequence[Speaker], site: Site, standing: str) -> bytes:
    """A chosen session in the participant's own feed: the published block, or, while their
    registration is pending or waiting for a seat, labelled so and tentative, as their
    event is (ical.personal_block)."""
    label = not_yet_seated(standing)
    if label is None or session_cancelled(item, event):
        return session_block(item, event, speakers, site)
    component = _vevent(item, event, speakers, site, method=None, stamp=None)
    return mark_tentative(component, f"{label}: {session_summary(item, event)}").to_ical()


def session_calendar(
    item: EventSession,
    event: Event,
    speakers: Sequence[Speaker],
    *,
    site: Site,
    method: str,
    attendee: str | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """One session as an iTIP message for an email's attachment: METHOD:REQUEST (a new or
    changed session; the same UID updates the copy the participant's calendar holds) or
    METHOD:CANCEL, for `attendee`, stamped `stamp` (default: now). The part every chooser's
    message shares is made once per version of the session."""
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP METHOD {method!r}")
    when = stamp or datetime.now(timezone.utc)
    key = ("itip", method, site.mail_from, _key(item, event, speakers, site))
    shared = vevent_blocks.get(key)
    if shared is None:
        component = _vevent(item, event, speakers, site, method=method, stamp=when)
        component.pop("dtstamp")
        shared = component.to_ical()
        vevent_blocks.put(key, shared)
    block = itip_block(shared, method, when, attendee)
    return scheduling_calendar([block], site=site, name=item.title, timezone_name=event.timezone, method=method)

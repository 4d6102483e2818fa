"""iCalendar: the one builder and the one UID function behind every feed and every email
attachment, and the Google Calendar link that says the same thing.

Times. A timed event is written in UTC (DTSTART:20270308T010000Z): a UTC instant is exact,
needs no VTIMEZONE, and every client shows it in its viewer's own zone. The event's own zone
is still named, in X-WR-TIMEZONE, for the clients that display a calendar in it. An all-day
event is written as dates (VALUE=DATE) in the event's zone, with the exclusive DTEND that RFC
5545 asks for, so a Monday-to-Friday course ends on Saturday's date and shows as five whole
days everywhere.

Days. An event held at the same hours on several days (Monday 09:00 to Friday 17:00) is one
VEVENT with the first day's hours and RRULE:FREQ=DAILY;COUNT=5, and DESCRIPTION begins
"Five days, 09:00–17:00 (Asia/Singapore) each day" (days.py says which events and why). It
keeps its UID, SEQUENCE and status, so an update or a METHOD:CANCEL reaches the whole series.
Its times are UTC too unless a daylight-saving change falls in its span; then they name the
zone (TZID) and the calendar carries the zone's VTIMEZONE, made from the zone database by
icalendar, never by hand (days.vtimezones, added around the blocks that need it).

Alarms. A participant's own copy of an event they hold a seat at (their personal feed, and
the METHOD:REQUEST an email carries) has one DISPLAY alarm, ALARM (a day) before the start,
relative to it (TRIGGER:-P1D), so that a moved event moves its reminder; in a series that is
before each day's start, as RFC 5545 has a relative trigger. None for a cancelled event, a
place on the waiting list or an application not yet decided, nor in a CANCEL. Public feeds
have none: whoever subscribes to a whole programme wants no alarm for each of its runs.
A conference's sessions have none (the event's own reminder is enough).

DTSTAMP. A published feed (no METHOD) stamps each event with its LAST-MODIFIED time, as RFC
5545 §3.8.7.2 allows for objects without a METHOD. A feed is then the same bytes for the same
data, in every process and on every rebuild, so its ETag (a hash of the body) stays the same
until something in it changes and pollers keep getting 304s. Scheduling messages
(METHOD:REQUEST / CANCEL, for email) are stamped with the time they are made, as iTIP wants.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from icalendar import vText

from portal.calendars.days import Days, event_days, vtimezones
from portal.calendars.plaintext import clean_line, plain_text, shorten
from portal.kept import Kept
from portal.models import Event, EventStatus, Programme
from portal.site import Site

ORGANISATION = "S. Rajaratnam School of International Studies"
PRODID = f"-//{ORGANISATION}//Events//EN"
# How often a subscribed client should come back: hourly is enough for seminars announced
# weeks ahead, and it bounds the load a few thousand subscribers put on the portal.
REFRESH = timedelta(hours=1)
METHODS = (None, "PUBLISH", "REQUEST", "CANCEL")
# How long before each start the participant's own copy of an event reminds them (its
# VALARM, TRIGGER:-P1D); None: no alarm.
ALARM: timedelta | None = timedelta(days=1)

_CALENDAR_END = b"END:VCALENDAR\r\n"
_VEVENT_END = b"END:VEVENT\r\n"
_VALARM_BEGIN = b"\r\nBEGIN:VALARM\r\n"


def event_uid(event: Event) -> str:
    """The iCalendar UID of an event: made once when the event is created and stored, never
    derived from its title, slug or time, so every edit updates the copy a client has."""
    if not event.uid:
        raise ValueError(f"event {event.id} has no UID")
    return event.uid


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


def all_day_dates(event: Event) -> tuple[date, date]:
    """First day and exclusive end day of an all-day event, in the event's zone.

    An end stored at local midnight is already the exclusive end; an end during a day (say
    17:00 on Friday) means that day is the last one, so the exclusive end is the day after.
    """
    tz = zone(event.timezone)
    start = event.starts_at.astimezone(tz)
    end = event.ends_at.astimezone(tz)
    first = start.date()
    stop = end.date() if end.time() == time(0) else end.date() + timedelta(days=1)
    return first, max(stop, first + timedelta(days=1))


def summary(event: Event) -> str:
    """The title a calendar shows. A cancelled event says so in its title too: some clients
    (Google Calendar among them) ignore STATUS:CANCELLED in a subscribed feed."""
    title = clean_line(event.title)
    return f"Cancelled: {title}" if event.status == EventStatus.CANCELLED else title


def location(event: Event) -> str:
    """Venue and address, and 'Online' for an event with an online link. The link itself is
    for registered participants only and never appears in a public calendar."""
    parts = [p for p in (clean_line(event.venue), clean_line(event.address)) if p]
    if event.online_url and not any("online" in p.lower() for p in parts):
        parts.append("Online")
    return ", ".join(parts)


def category_label(category: str) -> str:
    return category.replace("-", " ").capitalize()


def description(event: Event, programme: Programme | None, url: str) -> str:
    """The event's Markdown as plain text, with its speakers, programme and page."""
    parts = [plain_text(event.description)]
    speakers = [clean_line(s) for s in event.speakers or [] if clean_line(s)]
    if speakers:
        parts.append("Speakers: " + "; ".join(speakers))
    if programme is not None:
        parts.append(f"Programme: {clean_line(programme.name)}")
    if event.online_url:
        parts.append("Online: joining details are sent to registered participants.")
    parts.append(f"Details and registration: {url}")
    return "\n\n".join(p for p in parts if p)


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def days_of(event: Event) -> Days | None:
    """The event's days when a calendar shows it as days (days.py's rule), else None."""
    return event_days(event.starts_at, event.ends_at, zone(event.timezone), all_day=bool(event.all_day))


def _vevent(
    event: Event,
    programme: Programme | None,
    site: Site,
    *,
    method: str | None,
    stamp: datetime | None,
) -> icalendar.Event:
    url = site.event_url(event.slug)
    component = icalendar.Event()
    component.add("uid", event_uid(event))
    component.add("dtstamp", _utc(stamp or event.updated_at))
    days = days_of(event)
    if event.all_day:
        first, stop = all_day_dates(event)
        component.add("dtstart", first)
        component.add("dtend", stop)
    elif days is None:
        component.add("dtstart", _utc(event.starts_at))
        component.add("dtend", _utc(event.ends_at))
    else:
        # In the zone (TZID) only when a daylight-saving change falls in the days.
        component.add("dtstart", _utc(days.start) if days.steady else days.start)
        component.add("dtend", _utc(days.end) if days.steady else days.end)
        component.add("rrule", days.rule())
    component.add("summary", summary(event))
    about = description(event, programme, url)
    component.add("description", f"{days.words()}\n\n{about}" if days else about)
    place = location(event)
    if place:
        component.add("location", place)
    component.add("url", url)
    component.add("created", _utc(event.created_at))
    component.add("last-modified", _utc(event.updated_at))
    component.add("sequence", event.sequence or 0)
    cancelled = method == "CANCEL" or event.status == EventStatus.CANCELLED
    component.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    categories = [category_label(event.category)]
    if programme is not None:
        categories.append(clean_line(programme.name))
    component.add("categories", categories)
    component.add("class", "PUBLIC")
    component.add("transp", "OPAQUE")
    if method is not None:
        # iTIP needs an organizer on every scheduling message (and the attendee it is for,
        # which _itip_block adds).
        component.add("organizer", f"mailto:{site.mail_from}", parameters={"CN": ORGANISATION})
    return component


# Per process: enough for every event a large site shows in its feeds (a few KB each).
vevent_blocks: Kept[bytes] = Kept(max_entries=10_000)


def block_key(
    uid: str,
    updated_at: datetime,
    sequence: int | None,
    status: str,
    programme_name: str | None,
    programme_updated_at: datetime | None,
    site: Site,
) -> Hashable:
    """What a published VEVENT block is made from that can change: the key of its cached copy.

    Taken as plain values so that a feed can look its blocks up from a narrow query of these
    columns and load whole events only for the blocks it does not have."""
    return (uid, updated_at, sequence, str(status), programme_name, programme_updated_at, site.base_url)


def _key_of(event: Event, programme: Programme | None, site: Site) -> Hashable:
    return block_key(
        event_uid(event),
        event.updated_at,
        event.sequence,
        event.status,
        programme.name if programme else None,
        programme.updated_at if programme else None,
        site,
    )


def published_block(event: Event, programme: Programme | None, site: Site) -> bytes:
    """The event's VEVENT as a published feed has it, from the cache or made and kept."""
    key = _key_of(event, programme, site)
    block = vevent_blocks.get(key)
    if block is None:
        block = _vevent(event, programme, site, method=None, stamp=None).to_ical()
        vevent_blocks.put(key, block)
    return block


# How a participant's own feed names an event they do not hold a seat at yet.
_NOT_YET_SEATED = {"pending": "Pending", "waitlisted": "Waiting list"}


def not_yet_seated(standing: str) -> str | None:
    """How a participant's own feed labels what they do not hold a seat at yet (pending, on
    the waiting list), or None with a seat."""
    return _NOT_YET_SEATED.get(str(standing))


def mark_tentative(component: icalendar.Event, title: str) -> icalendar.Event:
    """Retitle a VEVENT and make it TENTATIVE and TRANSPARENT, so that a calendar neither shows
    it as settled nor counts the time as busy."""
    for name, value in (("summary", title), ("status", "TENTATIVE"), ("transp", "TRANSPARENT")):
        component.pop(name)
        component.add(name, value)
    return component


def alarm(event: Event) -> icalendar.Alarm | None:
    """The participant's reminder, ALARM before each start: a DISPLAY alarm that shows the
    event's title; None without ALARM or for a cancelled event."""
    if ALARM is None or event.status == EventStatus.CANCELLED:
        return None
    component = icalendar.Alarm()
    component.add("action", "DISPLAY")
    component.add("trigger", -ALARM)
    component.add("description", summary(event))
    return component


def personal_block(event: Event, programme: Programme | None, site: Site, standing: str) -> bytes:
    """The event's VEVENT for the participant's own feed. With a seat it is the published
    block with the participant's alarm (kept under a key of its own); for a cancelled event,
    the published block; pending or on the waiting list it says so in the title and is
    tentative (mark_tentative), without an alarm for a seat they do not hold."""
    label = not_yet_seated(standing)
    if label is None or event.status == EventStatus.CANCELLED:
        block = published_block(event, programme, site)
        reminder = alarm(event)
        if reminder is None:
            return block
        key = ("alarm", ALARM, _key_of(event, programme, site))
        kept = vevent_blocks.get(key)
        if kept is None:
            kept = block[: -len(_VEVENT_END)] + reminder.to_ical() + _VEVENT_END
            vevent_blocks.put(key, kept)
        return kept
    component = _vevent(event, programme, site, method=None, stamp=None)
    return mark_tentative(component, f"{label}: {summary(event)}").to_ical()


# The calendar's head depends only on these arguments: an email's .ics and every feed reuse
# it. Keyed by title among them, so bounded; each entry is a few hundred bytes.
@lru_cache(maxsize=512)
def _head(
    *, site: Site, name: str, timezone_name: str | None, method: str | None, source_url: str | None
) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    label = clean_line(name) or "RSIS Events"
    # NAME is RFC 7986's; X-WR-CALNAME is what most clients read. Both are TEXT, escaped.
    calendar.add("name", vText(label))
    calendar.add("x-wr-calname", vText(label))
    calendar.add("x-wr-timezone", vText(timezone_name or site.timezone))
    if method is None:
        calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", "PT1H")
        if source_url:
            calendar.add("source", source_url, parameters={"VALUE": "URI"})
    head = calendar.to_ical()
    assert head.endswith(_CALENDAR_END)
    return head[: -len(_CALENDAR_END)]


def published_calendar(
    blocks: Iterable[bytes], *, site: Site, name: str, timezone_name: str | None = None, source_url: str | None = None
) -> bytes:
    """A published feed (no METHOD) around VEVENT blocks made by `published_block`."""
    # A personal feed's source is its private address: built each time, never kept.
    build = _head.__wrapped__ if source_url else _head
    head = build(site=site, name=name, timezone_name=timezone_name, method=None, source_url=source_url)
    blocks = list(blocks)
    return b"".join([head, *vtimezones(blocks), *blocks, _CALENDAR_END])


def event_calendar(
    items: Iterable[tuple[Event, Programme | None]],
    *,
    site: Site,
    name: str,
    timezone_name: str | None = None,
    method: str | None = None,
    stamp: datetime | None = None,
    attendee: str | None = None,
    source_url: str | None = None,
) -> bytes:
    """A whole iCalendar object (bytes, CRLF lines folded at 75 octets) for these events.

    With no `method` it is a published feed, built from cached VEVENT blocks. With
    method="REQUEST" or "CANCEL" it is an iTIP message for one participant (`attendee`, an
    email address), stamped `stamp` (default: now); CANCEL marks the event cancelled.
    """
    if method not in METHODS:
        raise ValueError(f"unsupported iCalendar METHOD {method!r}")
    if method is None:
        blocks = [published_block(event, programme, site) for event, programme in items]
        return published_calendar(blocks, site=site, name=name, timezone_name=timezone_name, source_url=source_url)
    when = stamp or datetime.now(timezone.utc)
    blocks = [_itip_block(event, programme, site, method, when, attendee) for event, programme in items]
    return scheduling_calendar(blocks, site=site, name=name, timezone_name=timezone_name, method=method)


def scheduling_calendar(blocks: Iterable[bytes], *, site: Site, name: str, timezone_name: str | None, method: str) -> bytes:
    """An iTIP message (METHOD:REQUEST or CANCEL) around VEVENT blocks made by `itip_block`."""
    head = _head(site=site, name=name, timezone_name=timezone_name, method=method, source_url=None)
    blocks = list(blocks)
    return b"".join([head, *vtimezones(blocks), *blocks, _CALENDAR_END])


def _itip_block(event: Event, programme: Programme | None, site: Site, method: str, stamp: datetime, attendee: str | None) -> bytes:
    """The event's VEVENT for one participant's iTIP message (REQUEST or CANCEL).

    Everything but DTSTAMP and ATTENDEE is the same for every participant of one version of
    the event, and building it is most of an email's cost inside a registration's
    transaction: that part is made once per version (kept with the feeds' blocks, under a
    key of its own) and the two lines of this message are added to it. A VEVENT's properties
    have no order (RFC 5545), and each line is folded on its own."""
    key = ("itip", method, site.mail_from, ALARM, _key_of(event, programme, site))
    shared = vevent_blocks.get(key)
    if shared is None:
        component = _vevent(event, programme, site, method=method, stamp=stamp)
        component.pop("dtstamp")
        reminder = alarm(event) if method == "REQUEST" else None
        if reminder is not None:
            component.add_component(reminder)
        shared = component.to_ical()
        vevent_blocks.put(key, shared)
    return itip_block(shared, method, stamp, attendee)


def itip_block(shared: bytes, method: str, stamp: datetime, attendee: str | None) -> bytes:
    """A VEVENT serialised without DTSTAMP (the part every participant's message shares),
    with this message's DTSTAMP and ATTENDEE added: after its other properties and before
    its alarm, since a component's properties come before its subcomponents."""
    own = icalendar.Event()
    own.add("dtstamp", _utc(stamp))
    if attendee and method in ("REQUEST", "CANCEL"):
        own.add("attendee", f"mailto:{attendee}", parameters={"ROLE": "REQ-PARTICIPANT", "PARTSTAT": "ACCEPTED", "RSVP": "FALSE"})
    lines = own.to_ical().split(b"\r\n", 1)[1]  # without its BEGIN:VEVENT line; ends with END:VEVENT
    assert shared.endswith(_VEVENT_END) and lines.endswith(_VEVENT_END)
    alarm_at = shared.find(_VALARM_BEGIN)
    cut = len(shared) - len(_VEVENT_END) if alarm_at < 0 else alarm_at + 2
    return shared[:cut] + lines[: -len(_VEVENT_END)] + shared[cut:]


def google_calendar_link(event: Event, url: str) -> str:
    """A link that opens Google Calendar's 'new event' form filled in with this event."""
    days = days_of(event)
    if event.all_day:
        first, stop = all_day_dates(event)
        dates = f"{first:%Y%m%d}/{stop:%Y%m%d}"
    else:
        start, end = (days.start, days.end) if days else (event.starts_at, event.ends_at)
        dates = f"{_utc(start):%Y%m%dT%H%M%SZ}/{_utc(end):%Y%m%dT%H%M%SZ}"
    # Browsers and Google cut very long links; the page link carries the rest.
    details = "\n\n".join(p for p in (shorten(plain_text(event.description), 600), url) if p)
    params = {"action": "TEMPLATE", "text": summary(event), "dates": dates, "details": details}
    place = location(event)
    if place:
        params["location"] = place
    if not event.all_day:
        params["ctz"] = event.timezone
        if days:  # repeated in ctz, so each day keeps its local hours
            params["recur"] = f"RRULE:FREQ=DAILY;COUNT={days.count}"
    return "https://calendar.google.com/calendar/render?" + urlencode(params, safe="/", quote_via=quote)

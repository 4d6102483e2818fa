"""schema.org Event data for an event page (JSON-LD), so that search engines and assistants
read the dates, place, status and availability the page shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from portal.calendars.ical import ORGANISATION, all_day_dates, zone
from portal.calendars.plaintext import clean_line, plain_text, shorten
from portal.catalogue.agenda import Timetable, TimetableEntry
from portal.catalogue.listing import EventPage
from portal.kept import Kept
from portal.models import Event, EventStatus, Programme
from portal.registrations.availability import RegistrationState
from portal.site import Site

SCHEMA = "https://schema.org/"
# Few seats left: worth saying so, as the page does ("3 seats left").
LIMITED_BELOW = 5

# Where registration stands (registrations/availability.py State) as a schema.org ItemAvailability.
_AVAILABILITY = {
    "open": "InStock",
    "full_waitlist": "SoldOut",
    "full": "SoldOut",
    "not_yet_open": "PreOrder",
    "closed": "Discontinued",
    "started": "Discontinued",
    "cancelled": "Discontinued",
}

# JSON allows these escapes anywhere in a string; in an HTML <script> block they keep the
# text from ever closing the element (</script>) or opening a comment (<!--).
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _dates(event: Event) -> tuple[str, str]:
    if event.all_day:
        first, stop = all_day_dates(event)
        return first.isoformat(), (stop - timedelta(days=1)).isoformat()  # schema.org's end day is inclusive
    tz = zone(event.timezone)
    return event.starts_at.astimezone(tz).isoformat(), event.ends_at.astimezone(tz).isoformat()


def _places(event: Event, url: str) -> tuple[str, list[dict[str, Any]]]:
    places: list[dict[str, Any]] = []
    venue, address = clean_line(event.venue), clean_line(event.address)
    # A venue that only says "Online" is not a place anyone can go to.
    physical = bool(address) or (bool(venue) and not (event.online_url and "online" in venue.lower()))
    if physical:
        place: dict[str, Any] = {"@type": "Place", "name": venue or address}
        if address:
            place["address"] = {"@type": "PostalAddress", "streetAddress": address}
        places.append(place)
    if event.online_url:
        # The joining link is for registered participants; the page is where to start.
        places.append({"@type": "VirtualLocation", "url": url})
    if event.online_url and len(places) > 1:
        mode = "MixedEventAttendanceMode"
    elif event.online_url:
        mode = "OnlineEventAttendanceMode"
    else:
        mode = "OfflineEventAttendanceMode"
    return mode, places


def event_data(event: Event, programme: Programme | None, state: RegistrationState, *, url: str, register_url: str) -> dict[str, Any]:
    """The schema.org Event for one event page, as a JSON-ready dict."""
    start, end = _dates(event)
    mode, places = _places(event, url)
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": clean_line(event.title),  # the status is said by eventStatus, not the name
        "startDate": start,
        "endDate": end,
        "eventStatus": SCHEMA + ("EventCancelled" if event.status == EventStatus.CANCELLED else "EventScheduled"),
        "eventAttendanceMode": SCHEMA + mode,
        "organizer": {"@type": "Organization", "name": ORGANISATION},
        "url": url,
    }
    if places:
        data["location"] = places[0] if len(places) == 1 else places
    about = shorten(plain_text(event.description), 5000)
    if about:
        data["description"] = about
    performers = [clean_line(s) for s in event.speakers or [] if clean_line(s)]
    if performers:
        data["performer"] = [{"@type": "Person", "name": name} for name in performers]
    if programme is not None:
        data["superEvent"] = {"@type": "EventSeries", "name": clean_line(programme.name)}
    availability = _AVAILABILITY.get(str(state.state))
    if availability:
        if availability == "InStock" and state.seats_left is not None and state.seats_left <= LIMITED_BELOW:
            availability = "LimitedAvailability"
        offer: dict[str, Any] = {"@type": "Offer", "url": register_url, "availability": SCHEMA + availability}
        if state.opens_at is not None:
            offer["validFrom"] = state.opens_at.astimezone(zone(event.timezone)).isoformat()
        if state.closes_at is not None:
            offer["validThrough"] = state.closes_at.astimezone(zone(event.timezone)).isoformat()
        data["offers"] = offer
    if event.capacity is not None:
        data["maximumAttendeeCapacity"] = event.capacity
        if state.seats_left is not None:
            data["remainingAttendeeCapacity"] = state.seats_left
    return data


def session_data(
    entry: TimetableEntry, tz_name: str, *, url: str, speaker_url: Callable[[str], str], event_cancelled: bool = False
) -> dict[str, Any]:
    """One session as a schema.org Event (an event's subEvent), its speakers as performers;
    cancelled when it is, or when its whole event is."""
    tz = zone(tz_name)
    s = entry.session
    data: dict[str, Any] = {
        "@type": "Event",
        "name": clean_line(s.title),
        "startDate": s.starts_at.astimezone(tz).isoformat(),
        "endDate": s.ends_at.astimezone(tz).isoformat(),
        "eventStatus": SCHEMA + ("EventCancelled" if s.cancelled or event_cancelled else "EventScheduled"),
        "url": url,
    }
    if clean_line(s.room):
        data["location"] = {"@type": "Place", "name": clean_line(s.room)}
    performers = []
    for speaker in entry.speakers:
        person: dict[str, Any] = {"@type": "Person", "name": clean_line(speaker.name), "url": speaker_url(speaker.key)}
        if clean_line(speaker.affiliation):
            person["worksFor"] = {"@type": "Organization", "name": clean_line(speaker.affiliation)}
        performers.append(person)
    if performers:
        data["performer"] = performers
    return data


def sub_events(timetable: Timetable, slug: str, site: Site, *, event_cancelled: bool = False) -> list[dict[str, Any]]:
    """The timetable's sessions as subEvents, breaks and meals left out."""
    return [
        session_data(
            entry, timetable.timezone, url=site.url("show_session", slug=slug, key=entry.session.key),
            speaker_url=lambda key: site.url("show_speaker", key=key), event_cancelled=event_cancelled,
        )
        for entry in timetable.entries
        if not entry.quiet
    ]


def script_json(data: Any) -> str:
    """JSON that is safe as the text of an HTML <script type="application/ld+json"> block."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_HTML_SAFE)


# The sessions' JSON, kept per process under the timetable's fingerprint (each entry's, which
# holds everything session_data reads) and the site's address: a conference's 112 subEvents
# took 2 ms of every rendering of its page, and most renderings follow changes elsewhere.
_kept_sub_events: Kept[str] = Kept(max_entries=64)


def sub_events_json(timetable: Timetable, slug: str, site: Site, *, event_cancelled: bool = False) -> str:
    """sub_events as JSON safe in a <script>, kept while the timetable is unchanged."""
    key = (slug, site.base_url, timetable.timezone, event_cancelled, tuple(entry.fingerprint for entry in timetable.entries))
    return _kept_sub_events.get_or_make(key, lambda: script_json(sub_events(timetable, slug, site, event_cancelled=event_cancelled)))


def page_script(page: EventPage, site: Site) -> str:
    """The event page's JSON-LD, with its links on PORTAL_BASE_URL, ready for its <script>."""
    slug = page.event.slug
    data = event_data(
        page.event, page.programme, page.state, url=site.url("show_event", slug=slug), register_url=site.url("register", slug=slug)
    )
    script = script_json(data)
    cancelled = page.event.status == EventStatus.CANCELLED
    if page.timetable and any(not entry.quiet for entry in page.timetable.entries):
        # The kept JSON array spliced in as the object's last member.
        script = f'{script[:-1]},"subEvent":{sub_events_json(page.timetable, slug, site, event_cancelled=cancelled)}}}'
    return script

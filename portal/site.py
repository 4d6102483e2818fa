"""Where the portal lives: its base URL, and the public URLs that leave the browser (in
emails, calendar feeds, structured data), built from the route names.

The public route tables in web/ take their paths from PATHS, so a link a service writes
into an email and the route that answers it cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

# Route name -> path template. Every public route that a service or a template links to.
PATHS = {
    "home": "/",
    "list_events": "/events",
    "show_event": "/events/{slug}",
    "register": "/events/{slug}/register",
    "registered": "/events/{slug}/registered",
    "show_session": "/events/{slug}/sessions/{key}",
    "show_speaker": "/speakers/{key}",
    "show_speaker_photo": "/speakers/{key}/photo",
    "list_programmes": "/programmes",
    "show_programme": "/programmes/{code}",
    "lost_link": "/registrations/lost",
    "lost_link_sent": "/registrations/lost/sent",
    "manage_registration": "/registrations/{token}",
    "cancel_registration": "/registrations/{token}/cancel",
    "show_ticket": "/registrations/{token}/ticket",
    "choose_sessions": "/registrations/{token}/sessions",
    "show_own_data": "/registrations/{token}/data",
    "download_own_data": "/registrations/{token}/data.json",
    "erase_own_data": "/registrations/{token}/erase",
    "show_calendar": "/calendar.ics",
    "show_programme_calendar": "/programmes/{code}/calendar.ics",
    "show_event_calendar": "/events/{slug}/calendar.ics",
    "show_session_calendar": "/events/{slug}/sessions/{key}/calendar.ics",
    "show_schedule_xml": "/events/{slug}/schedule.xml",
    "show_schedule_json": "/events/{slug}/schedule.json",
    "show_personal_calendar": "/registrations/{token}/calendar.ics",
    "download_upload": "/registrations/{token}/files/{key}",
    "show_announcements": "/events.atom",
    "endorse_nomination": "/endorse/{token}",
    "subscribe": "/subscribe",
    "subscribed": "/subscribe/sent",
    "confirm_subscription": "/subscribe/confirm/{token}",
    "manage_subscription": "/subscribe/{token}",
    "unsubscribe": "/subscribe/{token}/leave",
    "download_subscription_data": "/subscribe/{token}/data.json",
    "erase_subscription": "/subscribe/{token}/erase",
    "find_certificate": "/certificates",
    "verify_certificate": "/certificates/{code}",
    "download_certificate": "/registrations/{token}/certificate.pdf",
    "show_favicon": "/favicon.ico",
    "show_brand_file": "/branding/{name}",
}


def _path(name: str, params: dict[str, Any]) -> str:
    return PATHS[name].format(**{key: quote(str(value), safe="") for key, value in params.items()})


@lru_cache(maxsize=8192)
def _public_path(name: str, params: tuple[tuple[str, Any], ...]) -> str:
    return _path(name, dict(params))


def path_for(name: str, /, **params: Any) -> str:
    """The path of the route `name`, its parameters percent-encoded. Public paths are kept (a
    conference's timetable links the same speakers and sessions hundreds of times a page);
    a path with a private token never is, so no token outlives its request in memory."""
    if "token" in params:
        return _path(name, params)
    return _public_path(name, tuple(params.items()))


@dataclass(frozen=True)
class Site:
    """What services need to know about where the portal lives, to write links."""

    base_url: str = "http://127.0.0.1:8000"
    mail_from: str = "portal@localhost"
    timezone: str = "Asia/Singapore"

    def url(self, name: str, /, **params: Any) -> str:
        """The absolute URL of the route `name` on PORTAL_BASE_URL."""
        return self.absolute(path_for(name, **params))

    def absolute(self, path: str) -> str:
        """An absolute URL for a path (with its query) already built."""
        return f"{self.base_url}{path}"

    def manage_url(self, token: str) -> str:
        return self.url("manage_registration", token=token)

    def event_url(self, slug: str) -> str:
        return self.url("show_event", slug=slug)

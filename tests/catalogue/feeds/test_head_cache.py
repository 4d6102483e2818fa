"""The calendar head kept per arguments (ical._head) must not keep a personal feed's private
address: each personal feed has its own, and keeping them would hold private links in
memory and push out the heads worth keeping."""

from __future__ import annotations

from portal.calendars import ical
from portal.site import Site


def test_a_personal_feed_s_private_address_is_never_kept():
    ical._head.cache_clear()
    site = Site()
    for n in range(3):
        feed = ical.published_calendar([], site=site, name="My registrations", source_url=f"{site.base_url}/registrations/secret-{n}/calendar.ics")
        assert f"secret-{n}".encode() in feed.replace(b"\r\n ", b"")
    assert ical._head.cache_info().currsize == 0
    ical.published_calendar([], site=site, name="RSIS Events")
    ical.published_calendar([], site=site, name="RSIS Events")
    assert ical._head.cache_info().currsize == 1 and ical._head.cache_info().hits == 1

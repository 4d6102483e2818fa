"""The Atom feed of announcements, and what the pages offer: calendar links, feed discovery
and the schema.org data of an event page."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from portal.db import utcnow
from portal.models import EventStatus
from tests.catalogue.feeds.conftest import parse

A = "{http://www.w3.org/2005/Atom}"


def _atom(client):
    response = client.get("/events.atom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert response.headers["etag"].startswith('"')
    return ET.fromstring(response.content)


def test_atom_lists_announcements_newest_first(client, make_event):
    now = utcnow()
    older = make_event(title="Older", published_at=now - timedelta(days=3))
    newer = make_event(title="Newer", published_at=now - timedelta(days=1))
    make_event(title="Dropped", status=EventStatus.CANCELLED, published_at=now - timedelta(days=2))
    make_event(title="Draft", status=EventStatus.DRAFT, published_at=None)

    feed = _atom(client)
    assert feed.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert (feed.findtext(f"{A}{name}") or "").strip()
    assert feed.find(f"{A}link[@rel='self']").get("href") == "http://testserver/events.atom"
    assert feed.find(f"{A}author/{A}name").text == "S. Rajaratnam School of International Studies"
    entries = feed.findall(f"{A}entry")
    assert [e.findtext(f"{A}title") for e in entries] == ["Newer", "Cancelled: Dropped", "Older"]
    first = entries[0]
    assert first.findtext(f"{A}id").startswith("urn:uuid:")
    assert first.find(f"{A}link").get("href") == f"http://testserver/events/{newer.slug}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first.findtext(f"{A}updated"))
    assert first.findtext(f"{A}published")
    assert "When:" in first.findtext(f"{A}summary")
    assert len({e.findtext(f"{A}id") for e in entries}) == 3
    assert older.uid not in ET.tostring(feed, encoding="unicode")  # ids are derived, not the raw UID


def test_atom_ids_do_not_change_with_edits(client, make_event, edit_event):
    event = make_event(title="First")
    before = _atom(client).find(f"{A}entry/{A}id").text
    edit_event(event.slug, title="Second")
    entry = _atom(client).find(f"{A}entry")
    assert entry.findtext(f"{A}title") == "Second"
    assert entry.findtext(f"{A}id") == before


def test_atom_escapes_and_is_limited_to_50(client, make_event):
    for _ in range(51):
        make_event()
    make_event(title='Fish & <chips> "quoted" </title>', description="a < b && c > d <!-- x -->", published_at=utcnow() + timedelta(minutes=1))
    response = client.get("/events.atom")
    assert b"<chips>" not in response.content and b"&amp;" in response.content
    feed = ET.fromstring(response.content)
    entries = feed.findall(f"{A}entry")
    assert len(entries) == 50
    assert entries[0].findtext(f"{A}title") == 'Fish & <chips> "quoted" </title>'
    assert "a < b && c > d <!-- x -->" in entries[0].findtext(f"{A}summary")


def test_event_page_offers_the_calendar(client, make_event, make_programme):
    programme = make_programme(code="tatc", name="Terrorism Analyst Training Course")
    event = make_event(title="TATC, March", programme_id=programme.id)
    page = client.get(f"/events/{event.slug}").text
    assert 'id="calendar-heading"' in page and "Add to your calendar" in page
    assert f'href="http://testserver/events/{event.slug}/calendar.ics"' in page
    assert 'href="webcal://testserver/programmes/tatc/calendar.ics"' in page
    google = html.unescape(re.search(r'href="(https://calendar\.google\.com/[^"]+)"', page).group(1))
    query = parse_qs(urlsplit(google).query)
    assert query["action"] == ["TEMPLATE"]
    assert query["text"] == ["TATC, March"]
    assert re.fullmatch(r"\d{8}T\d{6}Z/\d{8}T\d{6}Z", query["dates"][0])
    assert query["location"] == ["RSIS, Block S4, 50 Nanyang Avenue, Singapore"]

    standalone = make_event()
    page = client.get(f"/events/{standalone.slug}").text
    assert 'href="webcal://testserver/calendar.ics"' in page
    # The download link gives a feed a calendar can read.
    assert parse(client.get(f"/events/{standalone.slug}/calendar.ics").content).uids == [standalone.uid]


def _jsonld(page: str) -> dict:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def test_event_page_carries_schema_org_data(client, make_event, make_registration):
    event = make_event(capacity=3, venue="Seminar Room 1", address="50 Nanyang Avenue", description="**Bold** talk.")
    make_registration(event)
    data = _jsonld(client.get(f"/events/{event.slug}").text)
    assert data["@context"] == "https://schema.org" and data["@type"] == "Event"
    assert data["name"] == event.title
    assert data["startDate"] == event.starts_at.astimezone(ZoneInfo("Asia/Singapore")).isoformat()
    assert data["startDate"].endswith("+08:00") and data["endDate"].endswith("+08:00")
    assert data["eventStatus"] == "https://schema.org/EventScheduled"
    assert data["eventAttendanceMode"] == "https://schema.org/OfflineEventAttendanceMode"
    assert data["location"] == {
        "@type": "Place", "name": "Seminar Room 1",
        "address": {"@type": "PostalAddress", "streetAddress": "50 Nanyang Avenue"},
    }
    assert data["organizer"] == {"@type": "Organization", "name": "S. Rajaratnam School of International Studies"}
    assert data["description"] == "Bold talk."
    assert data["url"] == f"http://testserver/events/{event.slug}"
    assert data["offers"]["availability"] == "https://schema.org/LimitedAvailability"
    assert data["remainingAttendeeCapacity"] == 2


def test_schema_org_availability_and_status(client, make_event, make_registration):
    full = make_event(capacity=1, online_url="https://zoom.example/j/1", venue="", address="")
    make_registration(full)
    data = _jsonld(client.get(f"/events/{full.slug}").text)
    assert data["offers"]["availability"] == "https://schema.org/SoldOut"
    assert data["eventAttendanceMode"] == "https://schema.org/OnlineEventAttendanceMode"
    assert data["location"]["@type"] == "VirtualLocation"
    assert "zoom.example" not in json.dumps(data)

    roomy = make_event(capacity=None)
    assert _jsonld(client.get(f"/events/{roomy.slug}").text)["offers"]["availability"] == "https://schema.org/InStock"

    cancelled = make_event(status=EventStatus.CANCELLED)
    data = _jsonld(client.get(f"/events/{cancelled.slug}").text)
    assert data["eventStatus"] == "https://schema.org/EventCancelled"


def test_schema_org_data_cannot_break_out_of_its_script(client, make_event):
    title = 'Evil </script><script>alert("x")</script> & <!-- talk'
    event = make_event(title=title, description="</SCRIPT> in the text too")
    page = client.get(f"/events/{event.slug}").text
    assert page.lower().count("</script>") == 1  # only the data block's own end tag
    assert "<script>alert" not in page
    data = _jsonld(page)
    assert data["name"] == title
    assert "</SCRIPT> in the text too" in data["description"]


def test_programme_page_offers_its_feed(client, make_programme, make_event):
    programme = make_programme(code="appsmo", name="APPSMO")
    make_event(programme_id=programme.id)
    page = client.get("/programmes/appsmo").text
    assert 'href="webcal://testserver/programmes/appsmo/calendar.ics"' in page
    assert 'href="http://testserver/programmes/appsmo/calendar.ics"' in page
    assert 'id="programme-calendar-heading"' in page


def test_listing_pages_announce_the_atom_feed(client):
    for path in ("/", "/events"):
        page = client.get(path).text
        assert re.search(r'<link rel="alternate" type="application/atom\+xml"[^>]*href="http://testserver/events\.atom"', page), path


def test_manage_page_links_the_personal_feed(client, make_event, make_registration):
    registration = make_registration(make_event())
    page = client.get(f"/registrations/{registration.token}").text
    assert f'href="webcal://testserver/registrations/{registration.token}/calendar.ics"' in page

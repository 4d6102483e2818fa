"""One small feed byte for byte, so that any change to what clients receive shows up in review.
Set PORTAL_UPDATE_GOLDEN=1 to write the file again after a deliberate change."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

from portal.models import EventStatus
from tests.catalogue.feeds.conftest import parse

GOLDEN = Path(__file__).with_name("golden") / "programme.ics"
EDITED = datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc)
CREATED = datetime(2026, 10, 1, 1, 0, tzinfo=timezone.utc)


def _normalise(body: bytes) -> bytes:
    # DTSTAMP is the event's last change in a feed, so it is already fixed here; masking it
    # keeps this file about the content should feeds ever stamp the time of the request.
    return re.sub(rb"DTSTAMP:[0-9TZ]+", b"DTSTAMP:<stamp>", body)


def test_programme_feed_matches_the_golden_file(client, make_programme, make_event):
    programme = make_programme(code="golden", name="Golden Programme, Asia-Pacific")
    common = {"programme_id": programme.id, "created_at": CREATED, "updated_at": EDITED, "published_at": CREATED}
    make_event(
        uid="11111111-1111-4111-8111-111111111111@portal",
        slug="golden-seminar",
        title="Seminar: Ports, Cables; and Power",
        category="seminar",
        starts_at=datetime(2099, 3, 4, 7, 0, tzinfo=timezone.utc),
        ends_at=datetime(2099, 3, 4, 8, 45, tzinfo=timezone.utc),
        description="How **undersea cables** shape power.\n\n- Who lays them\n- Who guards them",
        speakers=["Dr A. Tan", "Ms B. Lim"],
        sequence=1,
        **common,
    )
    make_event(
        uid="22222222-2222-4222-8222-222222222222@portal",
        slug="golden-week",
        title="Residential week 🌏",
        category="course",
        all_day=True,
        starts_at=datetime(2099, 8, 3, 1, 0, tzinfo=timezone.utc),
        ends_at=datetime(2099, 8, 7, 9, 0, tzinfo=timezone.utc),
        venue="Harbourfront Resort",
        address="8 Siloso Rise, Singapore",
        **common,
    )
    make_event(
        uid="33333333-3333-4333-8333-333333333333@portal",
        slug="golden-webinar",
        title="Webinar, called off",
        category="webinar",
        status=EventStatus.CANCELLED,
        starts_at=datetime(2099, 9, 1, 8, 0, tzinfo=timezone.utc),
        ends_at=datetime(2099, 9, 1, 9, 30, tzinfo=timezone.utc),
        venue="",
        address="",
        online_url="https://zoom.example/j/999",
        sequence=2,
        **common,
    )
    response = client.get("/programmes/golden/calendar.ics")
    assert response.status_code == 200
    parsed = parse(response.content)
    assert parsed.vobj.x_wr_calname.value == "RSIS Events: Golden Programme, Asia-Pacific"
    assert [e.categories.value for e in parsed.vobj.vevent_list] == [
        ["Seminar", "Golden Programme, Asia-Pacific"],
        ["Course", "Golden Programme, Asia-Pacific"],
        ["Webinar", "Golden Programme, Asia-Pacific"],
    ]
    body = _normalise(response.content)
    if os.environ.get("PORTAL_UPDATE_GOLDEN"):
        GOLDEN.write_bytes(body)
    assert body == GOLDEN.read_bytes()

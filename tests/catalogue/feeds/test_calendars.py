"""The iCalendar builder itself: every property a client needs, escaping and folding, all-day
dates, scheduling messages for email, the VEVENT cache, and the cost in queries."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event as sa_event

from portal.calendars import ical
from portal.calendars.ical import event_calendar, event_uid, google_calendar_link
from portal.calendars.plaintext import plain_text
from portal.catalogue import feeds
from portal.models import Event, EventStatus
from portal.site import Site
from tests.catalogue.feeds.conftest import parse
from tests.conftest import future

SITE = Site(base_url="https://events.example.org", mail_from="events@example.org", timezone="Asia/Singapore")


def test_every_vevent_has_what_clients_need(make_event, make_programme):
    programme = make_programme(code="tatc", name="Terrorism Analyst Training Course")
    event = make_event(
        title="TATC March", category="course", programme_id=programme.id, sequence=2,
        description="Three **days** of [analysis](https://example.org/tatc).",
    )
    parsed = parse(event_calendar([(event, programme)], site=SITE, name="RSIS Events"))

    cal = parsed.ical
    assert str(cal["PRODID"]) == ical.PRODID
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["CALSCALE"]) == "GREGORIAN"
    assert "METHOD" not in cal
    assert parsed.vobj.x_wr_calname.value == "RSIS Events"
    assert parsed.vobj.x_wr_timezone.value == "Asia/Singapore"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in parsed.text
    assert "X-PUBLISHED-TTL:PT1H\r\n" in parsed.text

    vevent = parsed.event(event.uid)
    assert vevent.start == event.starts_at and vevent.start.tzinfo is not None
    assert vevent.end == event.ends_at
    assert "DTSTART:" in parsed.text and "Z\r\n" in parsed.text  # UTC, no TZID to resolve
    assert str(vevent["SUMMARY"]) == "TATC March"
    assert str(vevent["DESCRIPTION"]).startswith("Three days of analysis (https://example.org/tatc).")
    assert "https://events.example.org/events/" + event.slug in str(vevent["DESCRIPTION"])
    assert str(vevent["LOCATION"]) == "RSIS, Block S4, 50 Nanyang Avenue, Singapore"
    assert str(vevent["URL"]) == f"https://events.example.org/events/{event.slug}"
    assert vevent["LAST-MODIFIED"].dt == event.updated_at.replace(microsecond=0)
    assert vevent["DTSTAMP"].dt == event.updated_at.replace(microsecond=0)
    assert int(vevent["SEQUENCE"]) == 2
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert list(vevent.categories) == ["Course", "Terrorism Analyst Training Course"]

    v = parsed.vevent(event.uid)  # the independent reading says the same
    assert v.dtstart.value == event.starts_at
    assert v.dtend.value == event.ends_at
    assert v.summary.value == "TATC March"
    assert v.location.value == "RSIS, Block S4, 50 Nanyang Avenue, Singapore"
    assert v.sequence.value == "2"
    assert v.status.value == "CONFIRMED"
    assert v.categories.value == ["Course", "Terrorism Analyst Training Course"]
    assert v.url.value == f"https://events.example.org/events/{event.slug}"
    assert v.contents["last-modified"][0].value == event.updated_at.replace(microsecond=0)
    assert v.dtstamp.value == event.updated_at.replace(microsecond=0)


def test_uid_is_the_stored_one(make_event):
    event = make_event()
    assert event_uid(event) == event.uid
    assert event.uid.endswith("@portal") and event.slug not in event.uid


@pytest.mark.parametrize(
    "title",
    [
        "Commas, semicolons; and back\\slashes: all escaped",
        "Emoji 🌏🛰️ and accents: Hà Nội, Tōkyō, Zürich",
        "Long " + "ā,😀; " * 100 + "end",  # 500+ characters, multi-byte, to be folded
        "Line one\nline two",
    ],
)
def test_text_survives_escaping_and_folding(make_event, title):
    event = make_event(
        title=title[:500],
        venue="Room 1; Level 2, Block S4",
        address="",
        description="Para, one; with\nbreaks.\r\n\r\nPara two — 🌏\n\n- item, one\n- item; two",
    )
    body = event_calendar([(event, None)], site=SITE, name="A, calendar; named\nover lines")
    parsed = parse(body)  # checks every line is at most 75 octets and folds keep characters whole
    expected = " ".join(title[:500].split())
    assert str(parsed.event(event.uid)["SUMMARY"]) == expected
    assert parsed.vevent(event.uid).summary.value == expected
    assert parsed.vevent(event.uid).location.value == "Room 1; Level 2, Block S4"
    description = parsed.vevent(event.uid).description.value
    assert description.startswith("Para, one; with\nbreaks.\n\nPara two — 🌏\n\n- item, one\n- item; two")
    assert str(parsed.event(event.uid)["DESCRIPTION"]) == description
    assert parsed.vobj.x_wr_calname.value == "A, calendar; named over lines"
    assert max(len(line) for line in body.split(b"\r\n")) <= 75


def test_a_multi_day_all_day_event_has_dates_and_an_exclusive_end(make_event):
    # Monday 2 to Friday 6 August 2027 in Singapore, stored as 09:00 to 13:00 local.
    sgt = timezone(timedelta(hours=8))
    week = make_event(
        all_day=True,
        starts_at=datetime(2027, 8, 2, 9, 0, tzinfo=sgt),
        ends_at=datetime(2027, 8, 6, 13, 0, tzinfo=sgt),
    )
    # The same week stored as midnight to midnight: the stored end is already exclusive.
    midnight = make_event(
        all_day=True,
        starts_at=datetime(2027, 8, 2, 0, 0, tzinfo=sgt),
        ends_at=datetime(2027, 8, 7, 0, 0, tzinfo=sgt),
    )
    # Late in the evening in New York is already the next day in UTC: dates follow the zone.
    new_york = make_event(
        all_day=True,
        timezone="America/New_York",
        starts_at=datetime(2027, 2, 18, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
        ends_at=datetime(2027, 2, 18, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
    )
    parsed = parse(event_calendar([(week, None), (midnight, None), (new_york, None)], site=SITE, name="All day"))

    for event in (week, midnight):
        vevent = parsed.event(event.uid)
        assert vevent["DTSTART"].params.get("VALUE") == "DATE"
        assert vevent.start == date(2027, 8, 2) and not isinstance(vevent.start, datetime)
        assert vevent.end == date(2027, 8, 7)
        v = parsed.vevent(event.uid)
        assert (v.dtstart.value, v.dtend.value) == (date(2027, 8, 2), date(2027, 8, 7))
    assert parsed.event(new_york.uid).start == date(2027, 2, 18)
    assert parsed.event(new_york.uid).end == date(2027, 2, 19)
    assert "DTSTART;VALUE=DATE:20270802\r\n" in parsed.text
    assert "DTEND;VALUE=DATE:20270807\r\n" in parsed.text


def test_cancelled_events_say_so(make_event):
    event = make_event(status=EventStatus.CANCELLED, title="Space security")
    parsed = parse(event_calendar([(event, None)], site=SITE, name="x"))
    assert str(parsed.event(event.uid)["STATUS"]) == "CANCELLED"
    assert parsed.vevent(event.uid).summary.value == "Cancelled: Space security"


def test_online_link_never_appears(make_event):
    event = make_event(venue="", address="", online_url="https://zoom.example/j/123?pwd=secret")
    parsed = parse(event_calendar([(event, None)], site=SITE, name="x"))
    assert "zoom.example" not in parsed.text
    assert parsed.vevent(event.uid).location.value == "Online"


def test_scheduling_messages_for_email_share_the_uid(make_event):
    event = make_event(sequence=3)
    stamp = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    request = parse(
        event_calendar([(event, None)], site=SITE, name="x", method="REQUEST", stamp=stamp, attendee="ann@example.org")
    )
    cancel = parse(event_calendar([(event, None)], site=SITE, name="x", method="CANCEL", attendee="ann@example.org"))
    feed = parse(event_calendar([(event, None)], site=SITE, name="x"))
    assert str(request.ical["METHOD"]) == "REQUEST" and str(cancel.ical["METHOD"]) == "CANCEL"
    assert request.uids == cancel.uids == feed.uids == [event.uid]
    invite = request.event(event.uid)
    assert invite["DTSTAMP"].dt == stamp
    assert str(invite["ORGANIZER"]) == "mailto:events@example.org"
    assert str(invite["ATTENDEE"]) == "mailto:ann@example.org"
    assert int(invite["SEQUENCE"]) == 3
    assert str(request.event(event.uid)["STATUS"]) == "CONFIRMED"
    assert str(cancel.event(event.uid)["STATUS"]) == "CANCELLED"
    assert "ORGANIZER" not in feed.event(event.uid)  # a published feed invites nobody
    with pytest.raises(ValueError):
        event_calendar([(event, None)], site=SITE, name="x", method="REPLY")


def test_each_participant_gets_their_own_invitation_and_an_edit_reaches_the_next_one(make_event, edit_event):
    """Invitations share what they can per version of the event, never who they are for or
    when they were made, and an edited event is what the next one carries."""
    event = make_event()
    first, second = (
        parse(event_calendar([(event, None)], site=SITE, name="x", method="REQUEST", stamp=datetime(2026, 5, d, tzinfo=timezone.utc), attendee=who))
        for d, who in ((1, "ann@example.org"), (2, "bo@example.org"))
    )
    assert str(first.event(event.uid)["ATTENDEE"]) == "mailto:ann@example.org"
    assert str(second.event(event.uid)["ATTENDEE"]) == "mailto:bo@example.org"
    assert first.event(event.uid)["DTSTAMP"].dt.day == 1 and second.event(event.uid)["DTSTAMP"].dt.day == 2
    assert len([line for line in second.text.split("\r\n") if line.startswith(("ATTENDEE", "DTSTAMP"))]) == 2
    edited = edit_event(event.slug, title="A new title")
    after = parse(event_calendar([(edited, None)], site=SITE, name="x", method="REQUEST", attendee="cy@example.org"))
    assert "A new title" in str(after.event(event.uid)["SUMMARY"])


def test_unchanged_events_are_not_serialised_again(make_event, edit_event, monkeypatch):
    events = [make_event(), make_event(), make_event()]
    made: list[str] = []
    real = ical._vevent

    def counting(event, *args, **kwargs):
        made.append(event.slug)
        return real(event, *args, **kwargs)

    monkeypatch.setattr(ical, "_vevent", counting)
    first = event_calendar([(e, None) for e in events], site=SITE, name="x")
    assert len(made) == 3
    again = event_calendar([(e, None) for e in events], site=SITE, name="x")
    assert again == first and len(made) == 3

    edited = edit_event(events[1].slug, title="A new title")
    event_calendar([(events[0], None), (edited, None), (events[2], None)], site=SITE, name="x")
    assert made[3:] == [events[1].slug]


def test_the_vevent_cache_is_bounded(make_event, monkeypatch):
    monkeypatch.setattr(ical.vevent_blocks, "max_entries", 2)
    events = [make_event() for _ in range(4)]
    event_calendar([(e, None) for e in events], site=SITE, name="x")
    assert len(ical.vevent_blocks) == 2


def test_a_feed_costs_the_same_queries_for_3_or_30_events(make_event, sessions):
    engine = sessions.kw["bind"]
    counts = []
    for n in (3, 27):
        for _ in range(n):
            make_event()
        seen: list[str] = []

        def record(conn, cursor, statement, *args, seen=seen):
            seen.append(statement)

        sa_event.listen(engine, "before_cursor_execute", record)
        try:
            with sessions() as session:
                feed = feeds.site_feed(session, SITE, since=future(-400))
        finally:
            sa_event.remove(engine, "before_cursor_execute", record)
        assert len(parse(feed.body).uids) == (3 if n == 3 else 30)
        counts.append(len(seen))
    # BEGIN (SQLite), the narrow read of every event's block key, one load of the events
    # whose blocks are not kept yet.
    assert counts[0] == counts[1] <= 3


def test_after_one_edit_a_feed_loads_only_the_edited_event(make_event, sessions, run):
    events_made = [make_event() for _ in range(12)]
    engine = sessions.kw["bind"]
    with sessions() as session:
        before = feeds.site_feed(session, SITE, since=future(-400))

    def retitle(session, event_id):
        edited = session.get(Event, event_id)
        edited.title = "Retitled"
        edited.updated_at = edited.updated_at + timedelta(seconds=1)

    run(retitle, events_made[4].id)
    loaded: list[tuple] = []

    def record(conn, cursor, statement, parameters, *args):
        if "events.title" in statement:
            loaded.append(parameters)

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        with sessions() as session:
            after = feeds.site_feed(session, SITE, since=future(-400))
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    assert len(loaded) == 1
    values = list(loaded[0].values()) if isinstance(loaded[0], dict) else list(loaded[0])
    assert values == [events_made[4].id]
    assert b"Retitled" in after.body and b"Retitled" not in before.body
    assert len(parse(after.body).uids) == 12


def test_markdown_becomes_readable_plain_text():
    text = plain_text(
        "## Agenda\n\nA *short* talk by **Dr Lee** ([profile](https://example.org/lee)).\n\n"
        "1. Welcome\n2. Panel\n\n<script>alert(1)</script>\n\n```\ncode stays\n```\n\n---\n\nSee <https://rsis.example.org>."
    )
    assert text == (
        "Agenda\n\nA short talk by Dr Lee (profile (https://example.org/lee)).\n\n1. Welcome\n2. Panel\n\n"
        "<script>alert(1)</script>\n\ncode stays\n\n* * *\n\nSee https://rsis.example.org."
    )
    assert plain_text("") == "" and plain_text(None) == ""


def test_google_calendar_link(make_event):
    event = make_event(title="Cyber norms & ASEAN, 2027", description="About *this*.")
    link = google_calendar_link(event, "https://events.example.org/events/x")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "calendar.google.com", "/calendar/render")
    query = parse_qs(parts.query)
    start = event.starts_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    end = event.ends_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    assert query == {
        "action": ["TEMPLATE"],
        "text": ["Cyber norms & ASEAN, 2027"],
        "dates": [f"{start}/{end}"],
        "details": ["About this.\n\nhttps://events.example.org/events/x"],
        "location": ["RSIS, Block S4, 50 Nanyang Avenue, Singapore"],
        "ctz": ["Asia/Singapore"],
    }
    assert " " not in link and "&ASEAN" not in link

"""A conference's sessions in calendars: the event's feed with its sessions (on request), one
session's .ics, the participant's personal feed of the sessions they chose, and the iTIP
attachment for a session's email; each read by icalendar, vobject and ical.js."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from portal.calendars import sessions as session_ical
from portal.catalogue import feeds, sessionrows
from portal.models import EventStatus, RegistrationStatus, SessionKind, SessionStatus
from portal.site import Site
from tests.catalogue.conference import add_timetable, choose, edit_session, session_values
from tests.catalogue.feeds.conftest import parse
from tests.catalogue.feeds.icaljs import by_uid, read_with_icaljs
from tests.conftest import future

SITE = Site(base_url="https://events.example.org", mail_from="events@example.org", timezone="Asia/Singapore")


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def conference(make_event, run):
    """A two-day conference with a keynote, two parallel talks, a break and a cancelled
    workshop; (event, sessions by key)."""
    starts = future(40).replace(hour=8, minute=0, second=0)
    event = make_event(
        slug="iccs-test", title="ICCS Test", category="conference", starts_at=starts, ends_at=starts + timedelta(days=1, hours=9),
        timezone="Europe/London", venue="Convention Centre", address="1 Harbour Road",
    )
    sessions = add_timetable(run, event, [
        session_values("opening", "Opening keynote", starts, 60, kind=SessionKind.KEYNOTE, room="Auditorium",
                       speakers=["tan-ah-kow"], description="Why **cohesion** matters."),
        session_values("panel-a", "Panel A; faith, and the city", starts + timedelta(hours=1), 45, kind=SessionKind.PANEL,
                       room="Room 2", track="Faith", speakers=["siti-rahman", "jose-garcia"]),
        session_values("talk-b", "Talk B", starts + timedelta(hours=1), 45, room="Room 3", track="Technology"),
        session_values("coffee", "Coffee", starts + timedelta(hours=2), 15, kind=SessionKind.BREAK, room="Foyer"),
        session_values("ws-c", "Workshop C", starts + timedelta(days=1), 90, kind=SessionKind.WORKSHOP, room="Room 4",
                       choose=True, places=20, status=SessionStatus.CANCELLED),
    ])
    return event, sessions


def test_event_feed_is_the_event_alone_unless_sessions_are_asked_for(client, conference):
    event, sessions = conference
    alone = client.get(f"/events/{event.slug}/calendar.ics")
    assert alone.status_code == 200
    assert parse(alone.content).uids == [event.uid]

    response = client.get(f"/events/{event.slug}/calendar.ics?sessions=all")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    parsed = parse(response.content)
    wanted = [event.uid] + [sessions[k].uid for k in ("opening", "panel-a", "talk-b", "ws-c")]
    assert parsed.uids == wanted  # the event, then its sessions in time order; no break
    assert "Coffee" not in parsed.text
    assert parsed.vobj.x_wr_calname.value == "RSIS Events: ICCS Test (timetable)"
    assert f"SOURCE;VALUE=URI:http://testserver/events/{event.slug}/calendar.ics?sessions=all" in parsed.text.replace("\r\n ", "")

    panel = parsed.event(sessions["panel-a"].uid)
    assert panel.start == sessions["panel-a"].starts_at and panel.end == sessions["panel-a"].ends_at
    assert str(panel["SUMMARY"]) == "Panel A; faith, and the city"
    assert str(panel["LOCATION"]) == "Room 2, Convention Centre, 1 Harbour Road"
    assert str(panel["RELATED-TO"]) == event.uid and panel["RELATED-TO"].params["RELTYPE"] == "PARENT"
    assert int(panel["SEQUENCE"]) == 0 and str(panel["STATUS"]) == "CONFIRMED"
    description = str(panel["DESCRIPTION"])
    assert "Speakers: Siti Rahman; José García (Universidad de Chile)" in description
    assert "Track: Faith" in description
    assert f"http://testserver/events/{event.slug}/sessions/panel-a" in description
    assert str(panel["URL"]) == f"http://testserver/events/{event.slug}/sessions/panel-a"
    assert list(panel.categories) == ["Panel", "Faith"]
    assert str(parsed.event(sessions["opening"].uid)["DESCRIPTION"]).startswith("Why cohesion matters.")

    cancelled = parsed.event(sessions["ws-c"].uid)
    assert str(cancelled["STATUS"]) == "CANCELLED" and str(cancelled["SUMMARY"]) == "Cancelled: Workshop C"

    # vobject and ical.js read the same.
    v = parsed.vevent(sessions["panel-a"].uid)
    assert v.dtstart.value == sessions["panel-a"].starts_at and v.location.value.startswith("Room 2")
    assert v.related_to.value == event.uid and v.related_to.params["RELTYPE"] == ["PARENT"]
    js = by_uid(read_with_icaljs(response.content))
    assert list(js) == wanted
    assert js[sessions["panel-a"].uid]["start"] == _iso(sessions["panel-a"].starts_at)
    assert js[sessions["panel-a"].uid]["end"] == _iso(sessions["panel-a"].ends_at)
    assert js[sessions["panel-a"].uid]["related"] == {"uid": event.uid, "reltype": "PARENT"}
    assert js[sessions["panel-a"].uid]["location"] == "Room 2, Convention Centre, 1 Harbour Road"
    assert js[sessions["ws-c"].uid]["status"] == "CANCELLED"


def test_the_sessions_parameter_takes_one_value(client, conference):
    event, _ = conference
    response = client.get(f"/events/{event.slug}/calendar.ics?sessions=some")
    assert response.status_code == 400
    assert "sessions=all" in response.text


def test_one_session_has_its_own_calendar(client, conference):
    event, sessions = conference
    path = f"/events/{event.slug}/sessions/opening/calendar.ics"
    response = client.get(path)
    assert response.status_code == 200
    parsed = parse(response.content)
    assert parsed.uids == [sessions["opening"].uid]
    assert parsed.vobj.x_wr_calname.value == "RSIS Events: Opening keynote"
    assert parsed.vobj.x_wr_timezone.value == "Europe/London"
    assert [e["uid"] for e in read_with_icaljs(response.content)["events"]] == [sessions["opening"].uid]

    etag = response.headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    head = client.head(path)
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag

    assert client.get(f"/events/{event.slug}/sessions/nothing-here/calendar.ics").status_code == 404
    assert client.get("/events/no-such-event/sessions/opening/calendar.ics").status_code == 404


def test_a_draft_events_sessions_stay_hidden(client, make_event, run):
    starts = future(50)
    draft = make_event(status=EventStatus.DRAFT, published_at=None, starts_at=starts, ends_at=starts + timedelta(hours=4))
    add_timetable(run, draft, [session_values("secret", "Secret session", starts, 30)])
    assert client.get(f"/events/{draft.slug}/sessions/secret/calendar.ics").status_code == 404
    assert client.get(f"/events/{draft.slug}/calendar.ics?sessions=all").status_code == 404


def test_a_change_raises_sequence_keeps_the_uid_and_reaches_the_cached_feed(client, conference, run, edit_event):
    event, sessions = conference
    path = f"/events/{event.slug}/calendar.ics?sessions=all"
    first = client.get(path)
    uid = sessions["talk-b"].uid

    edit_session(run, event, "talk-b", room="Room 5")
    moved = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert moved.status_code == 200  # the write dropped the kept feed
    entry = parse(moved.content).event(uid)
    assert int(entry["SEQUENCE"]) == 1 and str(entry["LOCATION"]).startswith("Room 5, ")

    edit_session(run, event, "talk-b", title="Talk B, renamed")
    renamed = parse(client.get(path).content).event(uid)
    assert int(renamed["SEQUENCE"]) == 1  # the title is not the schedule
    assert str(renamed["SUMMARY"]) == "Talk B, renamed"

    edit_session(run, event, "talk-b", status=SessionStatus.CANCELLED)
    body = client.get(path).content
    cancelled = parse(body).event(uid)
    assert int(cancelled["SEQUENCE"]) == 2 and str(cancelled["STATUS"]) == "CANCELLED"
    assert by_uid(read_with_icaljs(body))[uid]["sequence"] == 2

    # Cancelling the whole event cancels every session, and their SEQUENCE rises with it.
    edit_event(event.slug, status=EventStatus.CANCELLED)
    body = client.get(path).content
    parsed = parse(body)
    opening = parsed.event(sessions["opening"].uid)
    assert str(opening["STATUS"]) == "CANCELLED" and int(opening["SEQUENCE"]) == 1
    assert str(opening["SUMMARY"]) == "Cancelled: Opening keynote"
    assert all(e["status"] == "CANCELLED" for e in read_with_icaljs(body)["events"])


def test_renaming_the_conference_or_moving_its_venue_reaches_every_session(client, conference, edit_event):
    """A session's entry is kept in two parts (calendars/sessions.py): what shows its event and
    the rest. An event-wide change remakes the first for every session; the entry stays whole:
    each property once, read alike by icalendar, vobject and ical.js."""
    event, sessions = conference
    path = f"/events/{event.slug}/calendar.ics?sessions=all"
    before = parse(client.get(path).content)
    edit_event(event.slug, title="ICCS Renamed", venue="Harbour Hall")
    body = client.get(path).content
    after = parse(body)
    read = by_uid(read_with_icaljs(body))
    for key in ("opening", "panel-a", "talk-b"):
        uid = sessions[key].uid
        entry, old = after.event(uid), before.event(uid)
        assert "Part of ICCS Renamed: " in str(entry["DESCRIPTION"])
        assert str(entry["LOCATION"]).endswith("Harbour Hall, 1 Harbour Road")
        assert int(entry["SEQUENCE"]) == int(old["SEQUENCE"]) + 1  # the place changed
        for name in ("UID", "DTSTART", "DTEND", "URL", "CATEGORIES", "CREATED"):
            assert entry[name].to_ical() == old[name].to_ical(), name
        names = [line.split(":", 1)[0].split(";", 1)[0] for line in entry.to_ical().decode().split("\r\n") if line and line[0] != " "]
        assert len(names) == len(set(names)), names
        assert read[uid]["location"] == str(entry["LOCATION"])


def test_a_speakers_change_reaches_the_feed(client, conference, run):
    event, sessions = conference
    path = f"/events/{event.slug}/sessions/opening/calendar.ics"
    assert "Dr Tan Ah Kow (RSIS)" in parse(client.get(path).content).text
    add_timetable(run, event, [], speakers=[{"key": "tan-ah-kow", "name": "Prof Tan Ah Kow", "affiliation": "NTU", "title": "", "bio": ""}])
    assert "Prof Tan Ah Kow (NTU)" in str(parse(client.get(path).content).event(sessions["opening"].uid)["DESCRIPTION"])


def test_the_event_feed_with_sessions_is_a_few_queries_and_then_none(client, conference, statements):
    event, _ = conference
    path = f"/events/{event.slug}/calendar.ics?sessions=all"
    statements.clear()
    assert client.get(path).status_code == 200
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # change marker, the event, its sessions, their speakers: not one per session
    assert len(selects) <= 4, selects
    statements.clear()
    assert client.get(path).status_code == 200
    assert not any("event_sessions" in s for s in statements)


def test_personal_feed_holds_the_sessions_chosen_with_a_place(client, conference, run, make_registration):
    event, sessions = conference
    registration = make_registration(event)
    choose(run, registration, sessions["panel-a"])
    choose(run, registration, sessions["talk-b"], waiting=True)  # on its waiting list: not in the calendar
    choose(run, registration, sessions["ws-c"])
    path = f"/registrations/{registration.token}/calendar.ics"

    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, max-age=300"
    parsed = parse(response.content)
    assert parsed.uids == [event.uid, sessions["panel-a"].uid, sessions["ws-c"].uid]
    panel = parsed.event(sessions["panel-a"].uid)
    assert str(panel["LOCATION"]).startswith("Room 2") and str(panel["STATUS"]) == "CONFIRMED"
    assert str(parsed.event(sessions["ws-c"].uid)["STATUS"]) == "CANCELLED"
    js = by_uid(read_with_icaljs(response.content))
    assert js[sessions["panel-a"].uid]["location"].startswith("Room 2")

    edit_session(run, event, "panel-a", starts_at=sessions["panel-a"].starts_at + timedelta(minutes=30),
                 ends_at=sessions["panel-a"].ends_at + timedelta(minutes=30))
    later = client.get(path, headers={"If-None-Match": response.headers["etag"]})
    assert later.status_code == 200
    moved = parse(later.content).event(sessions["panel-a"].uid)
    assert int(moved["SEQUENCE"]) == 1 and moved.start == sessions["panel-a"].starts_at + timedelta(minutes=30)
    assert by_uid(read_with_icaljs(later.content))[sessions["panel-a"].uid]["start"] == _iso(moved.start)

    edit_session(run, event, "panel-a", status=SessionStatus.CANCELLED)
    gone = parse(client.get(path).content).event(sessions["panel-a"].uid)
    assert str(gone["STATUS"]) == "CANCELLED" and int(gone["SEQUENCE"]) == 2


def test_personal_feed_marks_sessions_of_a_pending_registration_and_drops_a_cancelled_ones(client, conference, run, make_registration):
    event, sessions = conference
    pending = make_registration(event, status=RegistrationStatus.PENDING, confirmed_at=None)
    choose(run, pending, sessions["panel-a"])
    parsed = parse(client.get(f"/registrations/{pending.token}/calendar.ics").content)
    panel = parsed.event(sessions["panel-a"].uid)
    assert str(panel["SUMMARY"]) == "Pending: Panel A; faith, and the city"
    assert str(panel["STATUS"]) == "TENTATIVE" and str(panel["TRANSP"]) == "TRANSPARENT"

    gone = make_registration(event, status=RegistrationStatus.CANCELLED, confirmed_at=None)
    choose(run, gone, sessions["talk-b"])
    assert parse(client.get(f"/registrations/{gone.token}/calendar.ics").content).uids == []


def test_session_calendar_is_an_itip_message_for_email(conference, run, sessions):
    event, made = conference
    with sessions() as db:
        row = sessionrows.one(db, event, "panel-a")
        stamp = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
        body = session_ical.session_calendar(row.item, event, row.speakers, site=SITE, method="REQUEST",
                                             attendee="p@example.org", stamp=stamp)
        published = feeds.event_feed(db, SITE, event.slug, source="/x", with_sessions=True).body
        cancel = session_ical.session_calendar(row.item, event, row.speakers, site=SITE, method="CANCEL", attendee="p@example.org")
    parsed = parse(body)
    assert str(parsed.ical["METHOD"]) == "REQUEST"
    vevent = parsed.event(made["panel-a"].uid)
    assert vevent["DTSTAMP"].dt == stamp
    assert str(vevent["ORGANIZER"]) == "mailto:events@example.org"
    assert str(vevent["ATTENDEE"]) == "mailto:p@example.org"
    assert str(vevent["STATUS"]) == "CONFIRMED" and int(vevent["SEQUENCE"]) == 0
    assert str(vevent["RELATED-TO"]) == event.uid
    # The same UID as the feeds have, so the email's copy and the subscribed one are one entry.
    assert made["panel-a"].uid in parse(published).uids
    js = read_with_icaljs(body)
    assert js["method"] == "REQUEST" and js["events"][0]["attendees"] == ["mailto:p@example.org"]

    parsed_cancel = parse(cancel)
    assert str(parsed_cancel.ical["METHOD"]) == "CANCEL"
    assert str(parsed_cancel.event(made["panel-a"].uid)["STATUS"]) == "CANCELLED"
    assert read_with_icaljs(cancel)["events"][0]["status"] == "CANCELLED"
    with pytest.raises(ValueError):
        session_ical.session_calendar(row.item, event, row.speakers, site=SITE, method="PUBLISH")

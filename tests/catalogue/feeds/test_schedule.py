"""The schedule exports for companion apps (`/events/{slug}/schedule.xml` and `.json`): valid
against the schemas the format publishes (vendored in tests/schemas/voc-schedule/), holding
what the timetable holds, with stable GUIDs, and served like the feeds."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from lxml import etree
from sqlalchemy import select

from portal.catalogue.schedule import acronym, track_slug
from portal.catalogue.timetable import read_sessions, read_speakers
from portal.demo import timetable as demo
from portal.models import EventStatus, SessionKind, SessionStatus, Speaker
from tests.catalogue.conference import add_timetable, edit_session, session_values

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "voc-schedule"
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def xml_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "schedule.xml.xsd")))


@pytest.fixture(scope="module")
def json_validator() -> jsonschema.Draft6Validator:
    schema = json.loads((SCHEMAS / "schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft6Validator.check_schema(schema)
    # Every format the library can check (Draft 6's own list lacks date and uuid).
    checker = jsonschema.FormatChecker()
    assert {"date", "date-time", "uri", "uuid"} <= set(checker.checkers), "jsonschema[format-nongpl] is not installed"
    return jsonschema.Draft6Validator(schema, format_checker=checker)


def valid_xml(body: bytes, schema: etree.XMLSchema) -> etree._ElementTree:
    document = etree.fromstring(body).getroottree()
    assert schema.validate(document), "\n".join(str(e) for e in schema.error_log)
    return document


def valid_json(body: bytes, validator: jsonschema.Draft6Validator) -> dict[str, Any]:
    document = json.loads(body)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert not problems, "\n".join(problems[:20])
    return document


@pytest.fixture
def conference(make_event, run):
    """Three days in London (British Summer Time, +01:00): parallel sessions in three rooms,
    speakers, a break, a cancelled session, one without a room, a track named in Japanese, and
    a middle day without sessions."""
    first = datetime(2031, 6, 10, 9, 0, tzinfo=LONDON)
    event = make_event(
        slug="cohesion-2031", title="Cohesion & Trust 2031", category="conference", timezone="Europe/London",
        starts_at=first, ends_at=first + timedelta(days=2, hours=8), venue="Barbican Centre",
    )
    sessions = add_timetable(run, event, [
        session_values("opening", "Opening <keynote>", first, 60, kind=SessionKind.KEYNOTE, room="Hall", speakers=["tan-ah-kow"],
                       description="Why **cohesion** matters: [slides](https://example.org/s)."),
        session_values("a", "Éthique et société", first + timedelta(hours=1, minutes=15), 45, kind=SessionKind.PANEL,
                       room="Room 2", track="Éthique & société", speakers=["siti-rahman", "jose-garcia"]),
        session_values("b", "Parallel B", first + timedelta(hours=1, minutes=15), 45, room="Room 3", track="日本の研究"),
        session_values("tea", "Tea", first + timedelta(hours=2), 15, kind=SessionKind.BREAK, room="Foyer"),
        session_values("gone", "Called off", first + timedelta(hours=3), 30, room="Room 2", status=SessionStatus.CANCELLED),
        session_values("close", "Closing", first + timedelta(days=2, hours=7), 30, speakers=["tan-ah-kow"]),
    ])
    return event, sessions


def test_schedule_xml_is_valid_and_holds_the_timetable(client, conference, xml_schema, run, sessions):
    event, made = conference
    response = client.get(f"/events/{event.slug}/schedule.xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    root = valid_xml(response.content, xml_schema).getroot()

    conference_ = root.find("conference")
    assert conference_.findtext("acronym") == "cohesion_2031"
    assert conference_.findtext("title") == "Cohesion & Trust 2031"
    assert conference_.findtext("time_zone_name") == "Europe/London"
    assert (conference_.findtext("start"), conference_.findtext("end"), conference_.findtext("days")) == ("2031-06-10", "2031-06-12", "3")
    assert conference_.findtext("timeslot_duration") == "00:15"
    tracks = [(t.get("name"), t.get("slug")) for t in conference_.findall("track")]
    assert tracks == [("Éthique & société", "ethique-societe"), ("日本の研究", None)]
    assert root.findtext("url") == f"http://testserver/events/{event.slug}/schedule.xml"

    days = root.findall("day")
    assert [(d.get("index"), d.get("date")) for d in days] == [("1", "2031-06-10"), ("2", "2031-06-11"), ("3", "2031-06-12")]
    assert (days[0].get("start"), days[0].get("end")) == ("2031-06-10T09:00:00+01:00", "2031-06-10T11:00:00+01:00")
    # The middle day has no sessions: it spans the event's hours that day.
    assert (days[1].get("start"), days[1].get("end")) == ("2031-06-11T00:00:00+01:00", "2031-06-12T00:00:00+01:00")
    # Every room every day, in the order first used; the session without a room is at the venue.
    assert [r.get("name") for r in days[0].findall("room")] == ["Hall", "Room 2", "Room 3", "Barbican Centre"]
    assert [r.get("guid") for r in days[0].findall("room")] == [r.get("guid") for r in days[2].findall("room")]

    talks = {e.findtext("slug"): e for e in root.iter("event")}
    # No break, no cancelled session.
    assert sorted(talks) == sorted(f"cohesion_2031-{made[k].id:04d}-{k}" for k in ("opening", "a", "b", "close"))
    panel = talks[f"cohesion_2031-{made['a'].id:04d}-a"]
    assert panel.get("guid") == made["a"].guid and panel.get("id") == str(made["a"].id)
    assert panel.findtext("room") == "Room 2" and panel.findtext("type") == "panel"
    assert panel.findtext("date") == "2031-06-10T10:15:00+01:00"
    assert (panel.findtext("start"), panel.findtext("duration")) == ("10:15", "00:45")
    assert panel.findtext("track") == "Éthique & société"
    assert panel.findtext("url") == f"http://testserver/events/{event.slug}/sessions/a"
    with sessions() as db:
        guids = dict(db.execute(select(Speaker.key, Speaker.guid)).all())
    assert [(p.text, p.get("guid")) for p in panel.find("persons")] == [
        ("Siti Rahman", guids["siti-rahman"]), ("José García", guids["jose-garcia"]),
    ]
    opening = talks[f"cohesion_2031-{made['opening'].id:04d}-opening"]
    assert opening.findtext("title") == "Opening <keynote>"
    assert opening.findtext("abstract") == "Why cohesion matters: slides (https://example.org/s)."
    assert opening.findtext("track") == ""


def test_schedule_json_is_valid_and_says_the_same(client, conference, json_validator, xml_schema):
    event, made = conference
    response = client.get(f"/events/{event.slug}/schedule.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    document = valid_json(response.content, json_validator)
    conf = document["schedule"]["conference"]
    assert (conf["acronym"], conf["time_zone_name"], conf["daysCount"]) == ("cohesion_2031", "Europe/London", 3)
    assert [r["name"] for r in conf["rooms"]] == ["Hall", "Room 2", "Room 3", "Barbican Centre"]
    day1 = conf["days"][0]
    assert (day1["day_start"], day1["day_end"]) == ("2031-06-10T09:00:00+01:00", "2031-06-10T11:00:00+01:00")
    assert list(day1["rooms"]) == ["Hall", "Room 2", "Room 3", "Barbican Centre"]
    [panel] = day1["rooms"]["Room 2"]  # the cancelled one in Room 2 is not there
    assert (panel["guid"], panel["id"], panel["start"], panel["duration"]) == (made["a"].guid, made["a"].id, "10:15", "00:45")
    assert (panel["date"], panel["end"]) == ("2031-06-10T10:15:00+01:00", "2031-06-10T11:00:00+01:00")
    assert [p["name"] for p in panel["persons"]] == ["Siti Rahman", "José García"]
    assert panel["persons"][0]["url"] == "http://testserver/speakers/siti-rahman"
    # The XML has the same sessions.
    xml = valid_xml(client.get(f"/events/{event.slug}/schedule.xml").content, xml_schema)
    in_json = sorted(t["guid"] for d in conf["days"] for room in d["rooms"].values() for t in room)
    assert in_json == sorted(e.get("guid") for e in xml.iter("event"))


def test_guids_stay_through_edits_and_the_exports_are_cached_like_feeds(client, conference, run, xml_schema, json_validator):
    event, made = conference
    for path in (f"/events/{event.slug}/schedule.xml", f"/events/{event.slug}/schedule.json"):
        first = client.get(path, headers={"Accept-Encoding": "identity"})
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "public, max-age=300"
        assert first.headers["last-modified"].endswith(" GMT")
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
        zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["etag"] != etag
        head = client.head(path, headers={"Accept-Encoding": "identity"})
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag

    xml_before = client.get(f"/events/{event.slug}/schedule.xml")
    later = made["b"].starts_at + timedelta(minutes=30)
    edit_session(run, event, "b", starts_at=later, ends_at=later + timedelta(minutes=45), room="Room 2")
    changed = client.get(f"/events/{event.slug}/schedule.xml", headers={"If-None-Match": xml_before.headers["etag"]})
    assert changed.status_code == 200
    root = valid_xml(changed.content, xml_schema).getroot()
    moved = next(e for e in root.iter("event") if e.get("guid") == made["b"].guid)
    assert moved.get("id") == str(made["b"].id) and moved.findtext("start") == "10:45"
    assert moved.findtext("room") == "Room 2"
    assert root.findtext("version") != etree.fromstring(xml_before.content).findtext("version")

    edit_session(run, event, "b", status=SessionStatus.CANCELLED)
    document = valid_json(client.get(f"/events/{event.slug}/schedule.json").content, json_validator)
    guids = {t["guid"] for d in document["schedule"]["conference"]["days"] for r in d["rooms"].values() for t in r}
    assert made["b"].guid not in guids and made["a"].guid in guids


def test_a_cancelled_conference_has_days_but_no_sessions(client, conference, edit_event, xml_schema, json_validator):
    event, _ = conference
    edit_event(event.slug, status=EventStatus.CANCELLED)
    root = valid_xml(client.get(f"/events/{event.slug}/schedule.xml").content, xml_schema).getroot()
    assert len(root.findall("day")) == 3 and not list(root.iter("event"))
    valid_json(client.get(f"/events/{event.slug}/schedule.json").content, json_validator)


def test_drafts_and_unknown_events_are_not_found(client, make_event):
    draft = make_event(status=EventStatus.DRAFT, published_at=None)
    for suffix in ("xml", "json"):
        assert client.get(f"/events/{draft.slug}/schedule.{suffix}").status_code == 404
        assert client.get(f"/events/no-such-event/schedule.{suffix}").status_code == 404


def test_an_event_without_sessions_still_validates(client, make_event, xml_schema, json_validator):
    event = make_event(slug="ab", timezone="UTC")
    root = valid_xml(client.get("/events/ab/schedule.xml").content, xml_schema).getroot()
    assert root.find("conference").findtext("acronym") == "ab__"
    assert len(root.findall("day")) == 1 and root.find("day").findall("room") == []
    document = valid_json(client.get(f"/events/{event.slug}/schedule.json").content, json_validator)
    assert document["schedule"]["conference"]["time_zone_name"] == "UTC"


def test_the_demo_conference_validates(client, make_event, run, xml_schema, json_validator):
    """ICCS 2027 as the demo has it: 120 sessions over three days, four parallel rooms."""
    start = datetime(2027, 6, 22, 9, 0, tzinfo=ZoneInfo("Asia/Singapore"))
    event = make_event(slug=demo.EVENT, title="ICCS 2027", starts_at=start, ends_at=start + timedelta(days=2, hours=8))
    speakers = read_speakers(demo.speakers())
    records = read_sessions("iccs", demo.sessions(), event.starts_at, event.ends_at, {s["key"] for s in speakers})
    add_timetable(run, event, records, speakers=speakers)
    root = valid_xml(client.get(f"/events/{demo.EVENT}/schedule.xml").content, xml_schema).getroot()
    assert len(list(root.iter("event"))) == 111  # 120 less 6 coffee breaks and 3 lunches
    assert [r.get("name") for r in root.find("day").findall("room")] == list(demo.ROOMS)
    document = valid_json(client.get(f"/events/{demo.EVENT}/schedule.json").content, json_validator)
    assert document["schedule"]["conference"]["acronym"] == "iccs_2027"


@pytest.mark.parametrize(("slug", "made"), [("iccs-2027", "iccs_2027"), ("ab", "ab__"), ("x-1", "x_1_"), ("apps-mo", "apps_mo")])
def test_acronym_from_slug(slug, made):
    assert acronym(slug) == made


@pytest.mark.parametrize(("name", "slug"), [("Faith and identity", "faith-and-identity"), ("Éthique & société", "ethique-societe"),
                                            ("2030 agenda", None), ("日本", None), ("AI", "ai")])
def test_track_slug(name, slug):
    assert track_slug(name) == slug

"""`portal import` with a conference's timetable: speakers at the top level and sessions per
event, matched by key (so a second import changes nothing), every mistake refused with the
record named and nothing written."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.catalogue.imports import import_data
from portal.errors import ImportProblem
from portal.models import EventSession, SessionKind, SessionSpeaker, SessionStatus, Speaker

FILE: dict[str, Any] = {
    "speakers": [
        {"key": "tan-ah-kow", "name": "Dr Tan Ah Kow", "affiliation": "RSIS", "bio": "Works on *cohesion*."},
        {"key": "siti-ramli", "name": "Siti Ramli", "title": "Youth Representative"},
    ],
    "events": [{
        "slug": "iccs-2027", "title": "ICCS 2027", "starts_at": "2027-06-22T09:00:00+08:00",
        "ends_at": "2027-06-24T17:00:00+08:00", "status": "published",
        "sessions": [
            {"key": "opening", "title": "Opening keynote", "kind": "keynote", "starts_at": "2027-06-22T09:00:00+08:00",
             "ends_at": "2027-06-22T10:00:00+08:00", "room": "Auditorium", "track": None, "speakers": ["tan-ah-kow"]},
            {"key": "ws-a", "title": "Workshop A: Faith and the city", "kind": "workshop",
             "starts_at": "2027-06-22T14:00:00+08:00", "ends_at": "2027-06-22T16:00:00+08:00", "room": "Room 2",
             "track": "Workshops", "places": 30, "choose": True, "speakers": ["siti-ramli", "tan-ah-kow"]},
        ],
    }],
}


def _load(run, data):  # type: ignore[no-untyped-def]
    return run(import_data, copy.deepcopy(data))


def _timetable(sessions):  # type: ignore[no-untyped-def]
    with sessions() as session:
        rows = session.scalars(select(EventSession).order_by(EventSession.starts_at)).all()
        speakers = {
            s.key: [k for k, in session.execute(
                select(Speaker.key).join(SessionSpeaker, SessionSpeaker.speaker_id == Speaker.id)
                .where(SessionSpeaker.session_id == s.id).order_by(SessionSpeaker.position)
            )]
            for s in rows
        }
        return rows, speakers


def test_a_timetable_imports_and_a_second_import_changes_nothing(run, sessions):
    report = _load(run, FILE)
    assert (report.speakers_created, report.sessions_saved) == (2, 2)
    rows, speakers = _timetable(sessions)
    opening, workshop = rows
    assert opening.kind == SessionKind.KEYNOTE and opening.room == "Auditorium" and opening.track is None
    assert opening.starts_at.isoformat() == "2027-06-22T01:00:00+00:00"  # stored in UTC
    assert (workshop.choose, workshop.places, workshop.status) == (True, 30, SessionStatus.SCHEDULED)
    assert speakers == {"opening": ["tan-ah-kow"], "ws-a": ["siti-ramli", "tan-ah-kow"]}

    again = _load(run, FILE)
    assert (again.speakers_created, again.speakers_updated, again.sessions_saved, again.events_updated) == (0, 0, 0, 0)
    rows_again, _ = _timetable(sessions)
    assert [(r.id, r.uid, r.guid, r.sequence) for r in rows_again] == [(r.id, r.uid, r.guid, r.sequence) for r in rows]


def test_moving_a_session_raises_its_sequence_and_other_changes_do_not(run, sessions):
    _load(run, FILE)
    data = copy.deepcopy(FILE)
    data["events"][0]["sessions"][1]["title"] = "Workshop A: Faith and the city, again"
    _load(run, data)
    assert [r.sequence for r in _timetable(sessions)[0]] == [0, 0]
    data["events"][0]["sessions"][1]["room"] = "Room 3"
    _load(run, data)
    assert [r.sequence for r in _timetable(sessions)[0]] == [0, 1]
    data["events"][0]["sessions"][1]["status"] = "cancelled"
    report = _load(run, data)
    assert report.sessions_saved == 1
    assert [(r.sequence, r.status) for r in _timetable(sessions)[0]][1] == (2, SessionStatus.CANCELLED)


def test_a_session_left_out_of_the_file_stays(run, sessions):
    _load(run, FILE)
    data = copy.deepcopy(FILE)
    del data["events"][0]["sessions"][0]
    _load(run, data)
    assert [r.key for r in _timetable(sessions)[0]] == ["opening", "ws-a"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d["events"][0]["sessions"][1].update(starts_at="2027-06-25T09:00:00+08:00", ends_at="2027-06-25T10:00:00+08:00"),
     "events[0] (slug 'iccs-2027'): sessions[1] (key 'ws-a'): starts_at: the session must lie within the event's dates"),
    (lambda d: d["events"][0]["sessions"][1].update(ends_at="2027-06-22T13:00:00+08:00"),
     "events[0] (slug 'iccs-2027'): sessions[1] (key 'ws-a'): ends_at: must be after the start"),
    (lambda d: d["events"][0]["sessions"][0].update(speakers=["tan-ah-kwo"]),
     "events[0] (slug 'iccs-2027'): sessions[0] (key 'opening'): speakers: 'tan-ah-kwo' is not a speaker in this file or in the portal"),
    (lambda d: d["events"][0]["sessions"][0].update(roomz="Hall"),
     "events[0] (slug 'iccs-2027'): sessions[0] (key 'opening'): unknown key 'roomz' (did you mean 'room'?)"),
    (lambda d: d["events"][0]["sessions"][0].update(kind="lecture"),
     "events[0] (slug 'iccs-2027'): sessions[0] (key 'opening'): kind: must be one of keynote, panel, workshop, talk, break, meal (got 'lecture')"),
    (lambda d: d["events"][0]["sessions"][1].update(key="opening"),
     "events[0] (slug 'iccs-2027'): sessions[1]: key: 'opening' appears more than once in the file"),
    (lambda d: d["events"][0]["sessions"][1].update(choose=False),
     "events[0] (slug 'iccs-2027'): sessions[1] (key 'ws-a'): places: places apply only to a session participants choose (set choose)"),
    (lambda d: d["speakers"][1].update(name=""),
     "speakers[1] (key 'siti-ramli'): name: must not be empty"),
    (lambda d: d["speakers"].append({"key": "Bad Key", "name": "X"}),
     "speakers[2]: key: 'Bad Key' must be lowercase letters, digits and hyphens"),
])
def test_a_mistake_is_refused_naming_the_record_and_nothing_changes(run, sessions, change, message):
    data = copy.deepcopy(FILE)
    change(data)
    with pytest.raises(ImportProblem) as refused:
        _load(run, data)
    assert str(refused.value) == message
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Speaker)) == 0
        assert session.scalar(select(func.count()).select_from(EventSession)) == 0


def test_a_later_file_may_name_speakers_the_portal_already_has(run, sessions):
    _load(run, FILE)
    data = copy.deepcopy(FILE)
    del data["speakers"]
    data["events"][0]["sessions"][0]["speakers"] = ["siti-ramli"]
    _load(run, data)
    assert _timetable(sessions)[1]["opening"] == ["siti-ramli"]

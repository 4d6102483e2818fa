"""The timetable editor's and the speakers' services: the rules the back office's pages rely
on, at the service level (the pages are tested in tests/web/backoffice/timetable)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from portal.accounts import organisers
from portal.audit import Actor
from portal.catalogue import photos, speaker_admin
from portal.catalogue import timetable_admin as editor
from portal.catalogue.timetable import SessionProblem, save_session
from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.models import Event, EventSession, SessionCheckIn, SessionKind
from portal.templating import date_range
from tests.timetables import add_session, add_speakers, choose


@pytest.fixture
def actor(run) -> Actor:  # type: ignore[no-untyped-def]
    return run(organisers.add_organiser, "olga@example.org", "a long enough password", name="Olga")


@pytest.fixture
def conference(make_event):  # type: ignore[no-untyped-def]
    start = make_event().starts_at.replace(hour=1, minute=0, second=0)  # 09:00 in Singapore
    return make_event(slug="conf", starts_at=start, ends_at=start + timedelta(days=1))


def values(event, **changes):  # type: ignore[no-untyped-def]
    data = {
        "key": "talk", "title": "A talk", "kind": SessionKind.TALK, "starts_at": event.starts_at, "ends_at": event.starts_at + timedelta(hours=1),
        "room": "Room 1", "track": None, "description": "", "speakers": [], "choose": False, "places": None, "waitlist": False, "check_in": False,
    }
    data.update(changes)
    return data


def test_an_unknown_speaker_is_named_with_the_nearest_keys(run, actor, conference):
    add_speakers(run, {"key": "tan-ah-kow", "name": "Dr Tan"}, {"key": "tan-ah-kaw", "name": "Mr Tan"})
    assert run(editor.unknown_speakers, ["tan-ah-kow"]) is None
    words = run(editor.unknown_speakers, ["tan-ah-kow", "tan-ah-ko", "zzz"])
    assert words.startswith("No speaker has the key tan-ah-ko (did you mean tan-ah-kow or tan-ah-kaw?); zzz.")
    with pytest.raises(SessionProblem) as refused:
        run(editor.create_session, None, actor, conference.slug, values(conference, speakers=["tan-ah-kow", "tan-ah-kow"]))
    assert refused.value.field == "speakers" and "named twice" in str(refused.value)


def test_a_time_left_alone_to_the_minute_does_not_move_an_imported_session(run, actor, site, conference):
    start = conference.starts_at.replace(second=30) + timedelta(minutes=1)
    imported = add_session(run, conference, "talk", start, start + timedelta(hours=1))
    typed = values(conference, starts_at=start.replace(second=0), ends_at=start.replace(second=0) + timedelta(hours=1), title=imported.title, room="")
    report = run(editor.update_session, site, actor, conference.slug, "talk", typed)
    assert report.changed == [] and report.session.sequence == imported.sequence


def test_a_session_with_check_ins_cannot_be_deleted(run, actor, conference, make_registration):
    keynote = add_session(run, conference, "keynote", conference.starts_at, conference.starts_at + timedelta(hours=1), check_in=True)
    person = make_registration(conference)
    run(lambda s: s.add(SessionCheckIn(session_id=keynote.id, registration_id=person.id, event_id=conference.id)))
    with pytest.raises(InvalidTransition, match="1 person was checked in at this session"):
        run(editor.delete_session, actor, conference.slug, "keynote")
    assert run(editor.delete_preview, conference.slug, "keynote").refusal


def test_cancelling_twice_is_refused_and_the_choosers_are_counted(run, actor, site, conference, make_registration):
    workshop = add_session(run, conference, "ws", conference.starts_at, conference.starts_at + timedelta(hours=1), choose=True, places=5)
    choose(run, make_registration(conference), workshop)
    report = run(editor.cancel_session, site, actor, conference.slug, "ws")
    assert report.told == 1 and report.session.cancelled
    with pytest.raises(InvalidTransition, match="cancelled already"):
        run(editor.cancel_session, site, actor, conference.slug, "ws")
    page = run(editor.session_page, conference.slug, "ws")
    assert (page.holding, page.waiting, page.chosen, page.places_left) == (1, 0, 1, 4)


def test_what_moved_is_said_in_words(run, conference):
    add_session(run, conference, "talk", conference.starts_at, conference.starts_at + timedelta(hours=1), room="Room 1")
    later = conference.starts_at + timedelta(hours=2)

    def move(session):  # type: ignore[no-untyped-def]
        event = session.get(Event, conference.id)
        target = session.scalars(select(EventSession).where(EventSession.key == "talk")).one()
        saved = save_session(session, event, {"starts_at": later, "ends_at": later + timedelta(hours=1), "room": "", "speakers": []},
                             now=utcnow(), existing=target)
        return [(c.what, c.now, c.was) for c in editor.session_changes(event, saved)]

    assert run(move) == [
        ("When", date_range(later, later + timedelta(hours=1), "Asia/Singapore"),
         date_range(conference.starts_at, conference.starts_at + timedelta(hours=1), "Asia/Singapore")),
        ("Room", "to be announced", "Room 1"),
    ]


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP", "JPEG"])
def test_every_accepted_kind_of_picture_becomes_a_small_jpeg(fmt):
    source = io.BytesIO()
    Image.new("RGB", (1000, 500), (0, 128, 0)).save(source, fmt)
    jpeg = photos.prepare(source.getvalue())
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG" and image.size == (400, 200) and image.mode == "RGB"


def test_a_small_photo_is_kept_small_and_names_cannot_climb_out(settings):
    source = io.BytesIO()
    Image.new("L", (120, 80), 100).save(source, "PNG")
    with Image.open(io.BytesIO(photos.prepare(source.getvalue()))) as image:
        assert image.size == (120, 80)
    for name in ("../secret_key", "x.jpg", "a" * 32 + ".png", ""):
        with pytest.raises(Exception, match="no such photo"):
            photos.path_of(settings.upload_directory, name)
    photos.discard(settings.upload_directory, "../../etc/passwd")  # logged, not raised, nothing deleted


def test_speakers_keys_are_unique_and_the_page_key_is_kept(run, actor):
    run(speaker_admin.create_speaker, actor, {"key": "tan", "name": "Dr Tan", "affiliation": "", "title": "", "bio": ""})
    with pytest.raises(Exception, match="exists already"):
        run(speaker_admin.create_speaker, actor, {"key": "tan", "name": "Another", "affiliation": "", "title": "", "bio": ""})
    same = run(speaker_admin.update_speaker, actor, "tan", {"name": "Dr Tan", "affiliation": "", "title": "", "bio": ""})
    assert same.changed == [] and same.old_photo is None

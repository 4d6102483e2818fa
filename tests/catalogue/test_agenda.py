"""The public side of a conference's programme, at the service level: the timetable by day in
the event's zone (quiet rows, columns, places left), one session, a speaker's sessions
upcoming and past, the listing's search of sessions and speakers, and the sessions in the
event's schema.org data. Drafts never show."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event as sa_event

from portal.catalogue import agenda, schemaorg
from portal.catalogue.listing import get_event_page
from portal.catalogue.sessionsearch import find_in_timetables
from portal.db import run_unit_of_work, utcnow
from portal.errors import NotFound
from portal.models import EventStatus, RegistrationStatus, SessionKind, SessionStatus
from portal.site import Site
from tests.timetables import add_session, add_speakers, choose

SGT = ZoneInfo("Asia/Singapore")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A time of `day` in Singapore."""
    return datetime.combine(day, time(hour, minute), tzinfo=SGT)


@pytest.fixture
def day() -> date:
    return (utcnow() + timedelta(days=40)).astimezone(SGT).date()


@pytest.fixture
def conference(make_event, run, day):  # type: ignore[no-untyped-def]
    """A two-day conference in Singapore: a keynote, two workshops side by side, lunch, a
    session just after midnight (the day before in UTC) and a cancelled talk."""
    event = make_event(slug="iccs", title="ICCS", starts_at=at(day, 8), ends_at=at(day + timedelta(days=1), 18), capacity=None)
    add_speakers(
        run,
        {"key": "tan", "name": "Dr Tan Ah Kow", "affiliation": "RSIS", "title": "Professor"},
        {"key": "lee", "name": "Lee Wen Hui", "affiliation": "NUS"},
    )
    sessions = {
        "opening": add_session(run, event, "opening", at(day, 9), at(day, 10), title="Opening keynote", kind=SessionKind.KEYNOTE,
                               room="Auditorium", speakers=["tan"]),
        "ws-a": add_session(run, event, "ws-a", at(day, 10, 30), at(day, 12), title="Workshop A: Faith and the city",
                            kind=SessionKind.WORKSHOP, room="Room 2", track="Workshops", choose=True, places=2, waitlist=True,
                            speakers=["lee", "tan"]),
        "ws-b": add_session(run, event, "ws-b", at(day, 10, 30), at(day, 12), title="Workshop B: Trust", kind=SessionKind.WORKSHOP,
                            room="Room 3", choose=True, places=3),
        "lunch": add_session(run, event, "lunch", at(day, 12), at(day, 13), title="Lunch", kind=SessionKind.MEAL, room="Foyer"),
        "night": add_session(run, event, "night", at(day + timedelta(days=1), 0, 30), at(day + timedelta(days=1), 1, 30),
                             title="Night owls", room="Auditorium"),
        "dropped": add_session(run, event, "dropped", at(day + timedelta(days=1), 9), at(day + timedelta(days=1), 10),
                               title="A talk that will not happen", room="Auditorium", status=SessionStatus.CANCELLED),
    }
    return event, sessions


def _timetable(sessions_factory, event) -> agenda.Timetable:  # type: ignore[no-untyped-def]
    return run_unit_of_work(sessions_factory, lambda s: agenda.load_timetable(s, event), write=False)


def test_the_timetable_groups_sessions_by_day_in_the_event_zone(sessions, conference, day) -> None:
    event, made = conference
    timetable = _timetable(sessions, event)
    assert [d.date for d in timetable.days] == [day, day + timedelta(days=1)]
    # 00:30 in Singapore is 16:30 the day before in UTC: it belongs to the second day.
    assert made["night"].starts_at.astimezone(ZoneInfo("UTC")).date() == day
    second = [e.session.key for slot in timetable.days[1].slots for e in slot.entries]
    assert second == ["night", "dropped"]
    first = timetable.days[0]
    assert [[e.session.key for e in slot.entries] for slot in first.slots] == [["opening"], ["ws-a", "ws-b"], ["lunch"]]
    assert first.anchor == f"day-{day.isoformat()}"
    # The day's bounds are its local midnights, so a browser anywhere can tell today.
    assert first.opens_at == at(day, 0) and first.closes_at == at(day + timedelta(days=1), 0)
    assert timetable.zone_words == "Asia/Singapore (UTC+08:00)"


def test_rooms_become_columns_and_what_happens_alone_spans_them(sessions, conference) -> None:
    event, _ = conference
    timetable = _timetable(sessions, event)
    # The Foyer holds only lunch (a quiet row): no column of its own.
    assert timetable.columns == ("Auditorium", "Room 2", "Room 3")
    entries = {e.session.key: e for e in timetable.entries}
    assert entries["opening"].spans and entries["opening"].column == 1
    assert not entries["ws-a"].spans and entries["ws-a"].column == 2
    assert entries["ws-b"].column == 3
    lunch = entries["lunch"]
    assert lunch.quiet and lunch.spans and lunch.column is None
    assert timetable.days[0].slots[2].quiet and not timetable.days[0].slots[1].quiet
    assert timetable.days[0].slots[1].common_end == entries["ws-a"].session.ends_at


def test_speakers_come_in_the_session_order_and_cancelled_sessions_stay(sessions, conference) -> None:
    event, _ = conference
    entries = {e.session.key: e for e in _timetable(sessions, event).entries}
    assert [s.key for s in entries["ws-a"].speakers] == ["lee", "tan"]
    assert entries["ws-a"].speakers[1].affiliation == "RSIS"
    assert entries["dropped"].session.cancelled
    assert entries["dropped"].places_left is None


def test_places_left_count_active_choices_that_do_not_wait(sessions, conference, make_registration, run) -> None:
    event, made = conference
    for _ in range(2):
        choose(run, make_registration(event), made["ws-a"])
    choose(run, make_registration(event), made["ws-b"])
    choose(run, make_registration(event, status=RegistrationStatus.PENDING), made["ws-b"])
    choose(run, make_registration(event, status=RegistrationStatus.CANCELLED), made["ws-b"])
    choose(run, make_registration(event), made["ws-b"], waiting=True)
    entries = {e.session.key: e for e in _timetable(sessions, event).entries}
    assert entries["ws-a"].places_left == 0 and entries["ws-a"].full
    assert entries["ws-b"].taken == 2 and entries["ws-b"].places_left == 1 and not entries["ws-b"].full
    # A session without places has nothing to count.
    assert entries["opening"].taken is None and entries["opening"].places_left is None


def test_the_timetable_is_read_with_a_few_queries_whatever_its_size(sessions, conference, run, day) -> None:
    event, _ = conference
    for n in range(30):
        add_session(run, event, f"extra-{n}", at(day, 14), at(day, 15), room=f"Room {n}", speakers=["tan", "lee"])
    engine = sessions.kw["bind"]
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        timetable = _timetable(sessions, event)
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 3, selects
    assert len(timetable.entries) == 36
    # More rooms than fit side by side: no columns, every session names its room.
    assert timetable.columns == ()


def test_a_session_page_has_its_speakers_and_places_and_unknown_keys_are_not_found(sessions, conference, make_event, run, day) -> None:
    page = run_unit_of_work(sessions, agenda.get_session_page, "iccs", "ws-a", write=False)
    assert page.session.title == "Workshop A: Faith and the city"
    assert [(p.key, p.title, p.affiliation) for p in page.speakers] == [("lee", "", "NUS"), ("tan", "Professor", "RSIS")]
    assert page.entry.places_left == 2
    with pytest.raises(NotFound):
        run_unit_of_work(sessions, agenda.get_session_page, "iccs", "no-such-session", write=False)
    draft = make_event(slug="draft-conf", status=EventStatus.DRAFT, starts_at=at(day, 8), ends_at=at(day, 18))
    add_session(run, draft, "secret", at(day, 9), at(day, 10))
    with pytest.raises(NotFound):
        run_unit_of_work(sessions, agenda.get_session_page, "draft-conf", "secret", write=False)


def test_a_speaker_page_splits_upcoming_from_past_and_hides_drafts(sessions, conference, make_event, run, day) -> None:
    past_start = utcnow().replace(microsecond=0) - timedelta(days=100)
    old = make_event(slug="old-conf", title="Old conference", starts_at=past_start, ends_at=past_start + timedelta(days=1))
    add_session(run, old, "retro", past_start + timedelta(hours=1), past_start + timedelta(hours=2), title="Looking back", speakers=["tan"])
    older = make_event(slug="older-conf", starts_at=past_start - timedelta(days=50), ends_at=past_start - timedelta(days=49))
    add_session(run, older, "ancient", past_start - timedelta(days=50), past_start - timedelta(days=50, hours=-1), speakers=["tan"])
    draft = make_event(slug="draft-conf", status=EventStatus.DRAFT, starts_at=at(day, 8), ends_at=at(day, 18))
    add_session(run, draft, "secret", at(day, 9), at(day, 10), title="Not announced", speakers=["tan"])
    page = run_unit_of_work(sessions, agenda.get_speaker_page, "tan", write=False)
    assert page.speaker.name == "Dr Tan Ah Kow"
    assert [t.session.key for t in page.upcoming] == ["opening", "ws-a"]
    assert [t.event.slug for t in page.upcoming] == ["iccs", "iccs"]
    # Latest first.
    assert [t.session.key for t in page.past] == ["retro", "ancient"]
    assert "secret" not in [t.session.key for t in page.upcoming + page.past]


def test_a_speaker_known_only_to_a_draft_has_no_page_yet(sessions, make_event, run, day) -> None:
    add_speakers(run, {"key": "hidden", "name": "Someone Unannounced"})
    draft = make_event(slug="draft-conf", status=EventStatus.DRAFT, starts_at=at(day, 8), ends_at=at(day, 18))
    add_session(run, draft, "secret", at(day, 9), at(day, 10), speakers=["hidden"])
    for key in ("hidden", "nobody"):
        with pytest.raises(NotFound, match=f"/speakers/{key}"):
            run_unit_of_work(sessions, agenda.get_speaker_page, key, write=False)
        with pytest.raises(NotFound):
            run_unit_of_work(sessions, agenda.speaker_photo, key, write=False)


def _search(sessions, q, **filters):  # type: ignore[no-untyped-def]
    return run_unit_of_work(sessions, find_in_timetables, q, write=False, **filters)


def test_the_search_finds_sessions_and_speakers_naming_their_event(sessions, conference) -> None:
    hits = _search(sessions, "CITY faith")
    assert [(h.key, h.event_slug, h.event_title) for h in hits.sessions] == [("ws-a", "iccs", "ICCS")]
    assert hits.speakers == []
    hits = _search(sessions, "tan")
    assert [(h.key, h.events) for h in hits.speakers] == [("tan", (("iccs", "ICCS"),))]
    assert not hits.more


def test_the_search_leaves_out_drafts_breaks_and_wildcards(sessions, conference, make_event, run, day) -> None:
    draft = make_event(slug="draft-conf", status=EventStatus.DRAFT, starts_at=at(day, 8), ends_at=at(day, 18))
    add_speakers(run, {"key": "hidden", "name": "Tan Unannounced"})
    add_session(run, draft, "secret", at(day, 9), at(day, 10), title="Workshop C: Faith", speakers=["hidden"])
    assert [h.key for h in _search(sessions, "faith").sessions] == ["ws-a"]
    assert [h.key for h in _search(sessions, "tan").speakers] == ["tan"]
    assert not _search(sessions, "lunch")
    # Only letters and digits are searched for: LIKE's wildcards find nothing.
    assert not _search(sessions, "%")
    assert not _search(sessions, "_ %")
    # The listing's filters apply: these sessions are upcoming, not past.
    assert not _search(sessions, "faith", past=True)
    assert not _search(sessions, "faith", category="no-such-category")


def test_the_event_json_ld_lists_its_sessions_with_their_speakers(sessions, conference) -> None:
    page = run_unit_of_work(sessions, get_event_page, "iccs", with_timetable=True, write=False)
    site = Site(base_url="https://events.example.org")
    data = schemaorg.event_data(page.event, page.programme, page.state, url="u", register_url="r")
    assert "subEvent" not in data
    subs = {s["name"]: s for s in schemaorg.sub_events(page.timetable, "iccs", site)}
    assert "Lunch" not in subs
    workshop = subs["Workshop A: Faith and the city"]
    assert workshop["startDate"].endswith("10:30:00+08:00")
    assert workshop["location"] == {"@type": "Place", "name": "Room 2"}
    assert workshop["url"] == "https://events.example.org/events/iccs/sessions/ws-a"
    assert workshop["performer"][1] == {
        "@type": "Person", "name": "Dr Tan Ah Kow", "url": "https://events.example.org/speakers/tan",
        "worksFor": {"@type": "Organization", "name": "RSIS"},
    }
    assert subs["A talk that will not happen"]["eventStatus"] == "https://schema.org/EventCancelled"
    assert '"subEvent"' in schemaorg.page_script(page, site)

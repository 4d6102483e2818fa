"""Full-text search of the public events, the same on both engines: every word required, in
any order, each a prefix, accents and case ignored; title, description, venue, speakers and
the programme's name and code searched; the index current in the next request after any
write; no input an error; title matches first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from portal.catalogue import editing
from portal.catalogue.imports import import_data
from portal.catalogue.listing import list_events
from portal.catalogue.programmes import ProgrammeValues, update_programme
from portal.db import run_unit_of_work
from portal.models import Admission, EventStatus
from tests.conftest import future
from tests.web.test_public_pages import titles


@pytest.fixture
def found(sessions):  # type: ignore[no-untyped-def]
    """found(q, **filters): the titles list_events gives for a search, in order."""

    def _found(q: str, **filters) -> list[str]:  # type: ignore[no-untyped-def]
        page = run_unit_of_work(sessions, list_events, q=q, write=False, **filters)
        return [card.event.title for card in page.items]

    return _found


PROGRAMME_TEXT = "(SELECT name || ' ' || code FROM programmes WHERE programmes.id = events.programme_id)"


@pytest.fixture
def index_is_current(sessions):  # type: ignore[no-untyped-def]
    """index_is_current(): every event indexed as the migration would index it from scratch,
    and nothing else indexed."""

    def _check() -> bool:
        with sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                stale = session.scalar(text(
                    "SELECT count(*) FROM events WHERE search_vector IS DISTINCT FROM"
                    f" event_search_document(title, description, venue, speakers, {PROGRAMME_TEXT})"
                ))
                return stale == 0
            # FTS5 checks its index against the text it holds (it raises if they differ)...
            session.execute(text("INSERT INTO event_search (event_search) VALUES ('integrity-check')"))
            # ...and the text it holds is the events'.
            stale = session.scalar(text(
                "SELECT count(*) FROM events LEFT JOIN event_search ON event_search.rowid = events.id"
                " WHERE event_search.rowid IS NULL OR event_search.title IS NOT events.title"
                " OR event_search.description IS NOT events.description OR event_search.venue IS NOT events.venue"
                f" OR event_search.programme IS NOT {PROGRAMME_TEXT}"
            ))
            orphans = session.scalar(text("SELECT count(*) FROM event_search WHERE rowid NOT IN (SELECT id FROM events)"))
            return stale == 0 and orphans == 0

    return _check


@pytest.fixture
def catalogue(make_programme, make_event):  # type: ignore[no-untyped-def]
    """A few events whose words live in different places."""
    isf = make_programme(code="isf-asia", name="International Security Forum", admission=Admission.OPEN)
    make_event(title="Perf Event 0123", starts_at=future(10), ends_at=future(10) + timedelta(hours=2))
    make_event(title="Maritime Security in the South China Sea", venue="Marina Bay Sands", starts_at=future(11), ends_at=future(11) + timedelta(hours=2))
    make_event(title="Café scientifique", starts_at=future(12), ends_at=future(12) + timedelta(hours=2))
    make_event(title="A cafe for alumni", starts_at=future(13), ends_at=future(13) + timedelta(hours=2))
    make_event(
        title="Cyber norms", description="A talk on **undersea** cables and the law of the sea.",
        speakers=["Dr Ünal Çelik, Koç University", "Prof. Jane O'Neill"],
        programme_id=isf.id, starts_at=future(14), ends_at=future(14) + timedelta(hours=2),
    )
    return isf


def test_every_word_in_any_order_each_a_prefix(catalogue, found):
    assert found("perf 0123") == ["Perf Event 0123"]
    assert found("0123 perf") == ["Perf Event 0123"]
    assert found("event PERF") == ["Perf Event 0123"]
    assert found("mari") == ["Maritime Security in the South China Sea"]
    assert found("sec mar china") == ["Maritime Security in the South China Sea"]
    # Every word is required: one that matches nothing leaves nothing.
    assert found("perf 0123 zebra") == []
    assert found("maritime cyber") == []


def test_accents_and_case_are_ignored(catalogue, found):
    assert found("cafe") == ["Café scientifique", "A cafe for alumni"]
    assert found("CAFÉ") == ["Café scientifique", "A cafe for alumni"]
    assert found("Cafe\u0301") == ["Café scientifique", "A cafe for alumni"]  # the accent typed as a separate mark
    assert found("scientifiqué") == ["Café scientifique"]


def test_speakers_programme_venue_and_description_are_searched(catalogue, found):
    assert found("celik") == ["Cyber norms"]
    assert found("ünal koç") == ["Cyber norms"]
    assert found("o'neill") == ["Cyber norms"]
    assert found("international forum") == ["Cyber norms"]  # the programme's name
    assert found("isf-asia") == ["Cyber norms"]  # and its code
    assert found("asia") == ["Cyber norms"]
    assert found("marina bay") == ["Maritime Security in the South China Sea"]  # the venue
    assert found("undersea") == ["Cyber norms"]  # the description, Markdown and all
    # Words from different places count together.
    assert found("cyber celik undersea isf") == ["Cyber norms"]


def test_filters_and_pages_still_apply(catalogue, make_event, found, sessions):
    make_event(title="Seminar on maritime law", category="webinar", starts_at=future(20), ends_at=future(20) + timedelta(hours=1))
    make_event(title="Maritime history", starts_at=future(-30), ends_at=future(-30) + timedelta(hours=1))
    assert found("maritime", category="webinar") == ["Seminar on maritime law"]
    assert found("maritime", past=True) == ["Maritime history"]
    assert found("sea", programme="isf-asia") == ["Cyber norms"]
    for i in range(5):
        make_event(title=f"Maritime talk {i}", starts_at=future(30 + i), ends_at=future(30 + i) + timedelta(hours=1))
    page = run_unit_of_work(sessions, list_events, q="maritime", per_page=3, page=3, write=False)
    assert (page.total, page.pages, page.page, len(page.items)) == (7, 3, 3, 1)
    seen = [c.event.title for n in (1, 2, 3) for c in run_unit_of_work(sessions, list_events, q="maritime", per_page=3, page=n, write=False).items]
    assert len(set(seen)) == 7


def test_a_title_match_comes_before_a_description_match(make_event, found):
    # The description-only match starts sooner: the date alone would put it first.
    make_event(title="Evening lecture", description="On the history of piracy.", starts_at=future(5), ends_at=future(5) + timedelta(hours=1))
    make_event(title="Piracy today", starts_at=future(50), ends_at=future(50) + timedelta(hours=1))
    assert found("piracy") == ["Piracy today", "Evening lecture"]


def test_cancelled_events_are_found_and_drafts_never(make_event, found, client):
    make_event(title="Quantum diplomacy", status=EventStatus.CANCELLED)
    make_event(title="Quantum secrets", status=EventStatus.DRAFT, published_at=None)
    assert found("quantum") == ["Quantum diplomacy"]
    assert found("secrets") == []
    assert titles(client.get("/events?q=quantum").text) == ["Quantum diplomacy"]


def test_an_edited_event_is_found_by_its_new_words_at_once(make_event, run, site, found, client, index_is_current):
    event = make_event(title="Old name for a seminar", speakers=["Dr Before"])
    assert titles(client.get("/events?q=old+name").text) == ["Old name for a seminar"]
    values = editing.EventValues(
        title="Brand new heading", starts_at=event.starts_at, ends_at=event.ends_at, timezone=event.timezone,
        venue="Nanyang Auditorium", address=event.address, capacity=event.capacity, speakers=["Dr After"],
    )
    run(editing.update_event, site, None, event.slug, values)
    assert titles(client.get("/events?q=brand+new").text) == ["Brand new heading"]
    assert titles(client.get("/events?q=old+name").text) == []
    assert found("nanyang after") == ["Brand new heading"]
    assert found("before") == [] and found("rsis") == []
    assert index_is_current()


def test_an_imported_change_is_found_at_once(run, found, index_is_current):
    event = {
        "slug": "tatc-2027-03", "title": "TATC March 2027", "programme": "tatc", "category": "course",
        "starts_at": "2099-03-08T09:00:00+08:00", "ends_at": "2099-03-12T17:00:00+08:00", "status": "published",
        "speakers": ["Rohan Gunaratna"],
    }
    data = {"programmes": [{"code": "tatc", "name": "Terrorism Analyst Training Course", "admission": "application"}], "events": [event]}
    run(import_data, data)
    assert found("terrorism march") == ["TATC March 2027"]
    assert found("gunaratna") == ["TATC March 2027"]
    event["title"] = "Analyst course, spring"
    event["speakers"] = ["Kumar Ramakrishna"]
    run(import_data, data)
    assert found("spring analyst") == ["Analyst course, spring"]
    assert found("march") == [] and found("gunaratna") == []
    assert found("ramakrishna tatc") == ["Analyst course, spring"]
    assert index_is_current()


def test_a_renamed_programme_reindexes_its_events(catalogue, make_event, run, found, client, index_is_current):
    make_event(title="Forum day two", programme_id=catalogue.id)
    assert sorted(found("international security forum")) == ["Cyber norms", "Forum day two"]
    values = ProgrammeValues(name="Asia Dialogue on Cohesion", admission=Admission.OPEN)
    run(update_programme, None, "isf-asia", values)
    assert sorted(found("dialogue cohesion")) == ["Cyber norms", "Forum day two"]
    assert found("international") == []
    assert sorted(found("isf")) == ["Cyber norms", "Forum day two"]  # the code did not change
    assert sorted(titles(client.get("/events?q=asia+dialogue").text)) == ["Cyber norms", "Forum day two"]
    assert index_is_current()


HOSTILE = [
    '"', '""', "'", "*", "-", "+", "^", ":", "(", ")", "()", "NEAR", "NEAR(perf 0123)", "perf NOT 0123", "perf OR zebra",
    "perf AND", "AND", "title:perf", '"perf', "perf*", "*perf", "-perf", "perf -0123", "{perf}", "[perf]", "perf\\",
    "\\", "%", "_", "%perf%", "perf'; DROP TABLE events; --", "!@#$%^&*()_+-=[]{};':\",./<>?`~|" * 7,
    "😀", "perf 😀", "a\x00b", "\x00", "perf\x00", "x" * 5000, "perf " * 60, "&amp;", "<script>", "½",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_input_never_fails(catalogue, found, client, q):
    found(q)
    page = client.get("/events", params={"q": q})
    assert page.status_code == 200
    # The page drops NUL and keeps 200 characters (web/params.py), then finds what the service does.
    sent = q.replace("\x00", "").strip()[:200]
    if sent:
        assert titles(page.text) == found(sent)


def test_hostile_input_gives_sensible_results(catalogue, found):
    # Operators and quotes are punctuation, not syntax: the words around them are searched.
    for q in ['"perf"', "perf*", "-perf", "(perf 0123)", "{perf}", "perf'; --", "perf 😀", "perf\x00", "perf " * 60]:
        assert found(q) == ["Perf Event 0123"], q
    # ...and a word that looks like an operator or a column name is a word like any other,
    # required like any other.
    for q in ["perf OR zebra", "NEAR perf", "perf AND 0123", "title:perf"]:
        assert found(q) == [], q
    # Nothing but punctuation or symbols searches for nothing, and finds nothing.
    for q in ["*", '"', "%", "😀", "!@#$%^&*()" * 20, "\x00"]:
        assert found(q) == [], q
    # A blank search is no search.
    assert len(found("  ")) == 5


def test_an_event_moved_to_another_programme_or_deleted_leaves_the_index_current(
    catalogue, make_programme, make_event, run, site, found, index_is_current
):
    make_programme(code="tatc", name="Terrorism Analyst Training Course")
    event = make_event(title="Moving day", programme_id=catalogue.id)
    values = editing.EventValues(
        title=event.title, starts_at=event.starts_at, ends_at=event.ends_at, timezone=event.timezone,
        venue=event.venue, address=event.address, capacity=event.capacity, programme_code="tatc",
    )
    run(editing.update_event, site, None, event.slug, values)
    assert found("moving terrorism") == ["Moving day"]
    assert found("moving forum") == []

    # An event with nothing logged against it can be deleted (the audit log holds on to the others).
    gone = make_event(title="Gone tomorrow")

    def _delete(session) -> None:  # type: ignore[no-untyped-def]
        session.delete(session.get(type(gone), gone.id))

    run(_delete)
    assert found("gone") == []
    assert index_is_current()

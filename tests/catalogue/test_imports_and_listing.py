"""The import file and the demo: idempotent by code and slug, SEQUENCE that rises when the
schedule moves, and malformed files that name the record and field and change nothing. Then
what the listing offers beside its events: the programmes' next runs and the filters' choices."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from portal import cli, demo
from portal.catalogue.imports import import_data
from portal.catalogue.listing import get_event_page, get_listing, list_events, list_programmes
from portal.db import make_engine
from portal.errors import ImportProblem, NotFound
from portal.models import Event, EventStatus, Programme, Registration, RegistrationStatus
from tests.conftest import future

GOOD: dict[str, Any] = {
    "programmes": [
        {"code": "tatc", "name": "Terrorism Analyst Training Course", "admission": "application"},
        {"code": "iccs", "name": "International Conference on Cohesive Societies", "admission": "open"},
    ],
    "events": [
        {
            "slug": "tatc-2027-03", "title": "TATC March 2027", "programme": "tatc", "category": "course",
            "starts_at": "2027-03-08T09:00:00+08:00", "ends_at": "2027-03-12T17:00:00+08:00",
            "venue": "RSIS, Block S4", "capacity": 40, "waitlist": True, "status": "published",
            "registration_opens": None, "registration_closes": None, "description": "Markdown *text*",
        },
        {
            "slug": "iccs-2027", "title": "ICCS 2027", "programme": "iccs", "category": "conference",
            "starts_at": "2027-06-22T09:00:00+08:00", "ends_at": "2027-06-24T17:00:00+08:00",
            "capacity": None, "status": "draft", "speakers": ["Dr A", "Prof B"],
        },
        {
            "slug": "seminar-2027", "title": "A seminar", "category": "seminar",
            "starts_at": "2027-01-14T15:00:00+08:00", "ends_at": "2027-01-14T16:30:00+08:00",
            "capacity": 0, "waitlist": False, "status": "published", "timezone": "Europe/London",
        },
    ],
}


def good() -> dict[str, Any]:
    return copy.deepcopy(GOOD)


@pytest.fixture
def counts(sessions):  # type: ignore[no-untyped-def]
    def _counts() -> tuple[int, int]:
        with sessions() as session:
            return (
                session.scalar(select(func.count()).select_from(Programme)) or 0,
                session.scalar(select(func.count()).select_from(Event)) or 0,
            )

    return _counts


@pytest.fixture
def event_row(sessions):  # type: ignore[no-untyped-def]
    def _get(slug: str) -> Event:
        with sessions() as session:
            return session.scalars(select(Event).where(Event.slug == slug)).one()

    return _get


def test_import_creates_then_is_idempotent(run, counts, event_row):
    first = run(import_data, good())
    assert (first.programmes_created, first.programmes_updated, first.events_created, first.events_updated) == (2, 0, 3, 0)
    assert counts() == (2, 3)

    second = run(import_data, good())
    assert (second.programmes_created, second.programmes_updated, second.events_created, second.events_updated) == (0, 0, 0, 0)
    assert str(second) == "programmes: 0 created, 0 updated; events: 0 created, 0 updated"
    assert counts() == (2, 3)

    tatc = event_row("tatc-2027-03")
    assert tatc.title == "TATC March 2027"
    assert tatc.starts_at.isoformat() == "2027-03-08T01:00:00+00:00"  # stored in UTC
    assert tatc.status == EventStatus.PUBLISHED and tatc.published_at is not None
    assert tatc.capacity == 40 and tatc.waitlist is True
    assert tatc.timezone == "Asia/Singapore"  # the default zone
    assert tatc.sequence == 0
    iccs = event_row("iccs-2027")
    assert iccs.capacity is None and iccs.status == EventStatus.DRAFT and iccs.published_at is None
    assert iccs.speakers == ["Dr A", "Prof B"]
    assert event_row("seminar-2027").timezone == "Europe/London"
    assert event_row("seminar-2027").programme_id is None


def test_import_updates_by_code_and_slug(run, counts, event_row, sessions):
    run(import_data, good())
    uid = event_row("tatc-2027-03").uid
    data = good()
    data["programmes"][0]["name"] = "TATC (renamed)"
    data["events"][0]["title"] = "TATC March 2027 (updated)"
    report = run(import_data, data)
    assert (report.programmes_created, report.programmes_updated, report.events_created, report.events_updated) == (0, 1, 0, 1)
    assert counts() == (2, 3)
    event = event_row("tatc-2027-03")
    assert event.title == "TATC March 2027 (updated)"
    assert event.uid == uid  # the calendar identity survives edits
    with sessions() as session:
        assert session.scalar(select(Programme.name).where(Programme.code == "tatc")) == "TATC (renamed)"


def test_moving_an_event_raises_its_sequence_but_a_new_title_does_not(run, event_row):
    run(import_data, good())
    data = good()
    data["events"][0]["title"] = "A new title"
    run(import_data, data)
    assert event_row("tatc-2027-03").sequence == 0

    data["events"][0]["starts_at"] = "2027-03-08T10:00:00+08:00"
    run(import_data, data)
    moved = event_row("tatc-2027-03")
    assert moved.sequence == 1
    assert moved.starts_at.isoformat() == "2027-03-08T02:00:00+00:00"

    # The same instant written with another offset is no change at all.
    data["events"][0]["starts_at"] = "2027-03-08T02:00:00+00:00"
    assert run(import_data, data).events_updated == 0
    assert event_row("tatc-2027-03").sequence == 1

    data["events"][0]["status"] = "cancelled"
    run(import_data, data)
    assert event_row("tatc-2027-03").sequence == 2


def _event(**changes: Any) -> dict[str, Any]:
    base = copy.deepcopy(GOOD["events"][2])
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


BAD = {
    "missing slug": (lambda d: d["events"].append(_event(slug=...)), ["events[3]", "slug", "required"]),
    "naive datetime": (
        lambda d: d["events"].append(_event(slug="naive", starts_at="2027-03-08T09:00")),
        ["events[3]", "'naive'", "starts_at", "2027-03-08T09:00", "offset"],
    ),
    "ends before start": (
        lambda d: d["events"].append(_event(slug="backwards", ends_at="2027-01-14T14:00:00+08:00")),
        ["events[3]", "'backwards'", "ends_at", "after starts_at"],
    ),
    "unknown programme": (
        lambda d: d["events"].append(_event(slug="orphan", programme="nope")),
        ["events[3]", "'orphan'", "programme", "'nope'"],
    ),
    "bad admission": (
        lambda d: d["programmes"].append({"code": "srp-ep", "name": "SRP", "admission": "lottery"}),
        ["programmes[2]", "'srp-ep'", "admission", "'lottery'"],
    ),
    "negative capacity": (
        lambda d: d["events"].append(_event(slug="neg", capacity=-1)),
        ["events[3]", "'neg'", "capacity"],
    ),
    "capacity as words": (
        lambda d: d["events"].append(_event(slug="words", capacity="ten")),
        ["events[3]", "'words'", "capacity"],
    ),
    "duplicate slugs": (
        lambda d: d["events"].append(_event(slug="tatc-2027-03")),
        ["events[3]", "slug", "'tatc-2027-03'", "more than once"],
    ),
    "event not an object": (lambda d: d["events"].append(["a", "list"]), ["events[3]", "object"]),
    "bad status": (lambda d: d["events"].append(_event(slug="st", status="live")), ["events[3]", "'st'", "status"]),
    "bad time zone": (
        lambda d: d["events"].append(_event(slug="tz", timezone="Mars/Olympus")),
        ["events[3]", "'tz'", "timezone", "Mars/Olympus"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_records_name_the_record_and_field_and_change_nothing(case, run, counts, event_row):
    run(import_data, good())
    before = counts()
    data = good()
    # A valid change earlier in the file must not be applied either.
    data["events"][0]["title"] = "Changed by a bad file"
    mutate, words = BAD[case]
    mutate(data)

    with pytest.raises(ImportProblem) as info:
        run(import_data, data)

    for word in words:
        assert word in info.value.message, (word, info.value.message)
    assert counts() == before
    assert event_row("tatc-2027-03").title == "TATC March 2027"


@pytest.mark.parametrize("data", [[], "text", None, {"events": {"slug": "x"}}, {"extra": []}])
def test_a_file_that_is_not_an_object_of_lists_is_refused(data, run, counts):
    with pytest.raises(ImportProblem):
        run(import_data, data)
    assert counts() == (0, 0)


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def portal_env(monkeypatch, tmp_path, database_url):  # type: ignore[no-untyped-def]
    for name in ("PORTAL_SECRET_KEY", "PORTAL_BASE_URL", "PORTAL_SMTP_URL", "PORTAL_TIMEZONE", "PORTAL_MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    # cli.py never disposes the engine it makes (reported); dispose it here so that no
    # connection is left for the garbage collector to complain about.
    engines = []

    def tracked_engine(*args, **kwargs):  # type: ignore[no-untyped-def]
        engines.append(make_engine(*args, **kwargs))
        return engines[-1]

    monkeypatch.setattr(cli, "make_engine", tracked_engine)
    yield tmp_path
    for engine in engines:
        engine.dispose()


def test_cli_import_reports_a_bad_file_and_changes_nothing(portal_env, capsys, counts):
    data = good()
    data["events"].append(_event(slug="naive", starts_at="2027-03-08T09:00"))
    path = portal_env / "bad.json"
    path.write_text(json.dumps(data))

    assert cli.main(["import", str(path)]) == 2

    err = capsys.readouterr().err
    assert "events[3] (slug 'naive'): starts_at: '2027-03-08T09:00' has no UTC offset" in err
    assert "Nothing was changed" in err
    assert counts() == (0, 0)


def test_cli_import_refuses_a_file_that_is_not_json(portal_env, capsys, counts):
    path = portal_env / "bad.json"
    path.write_text("{not json")
    assert cli.main(["import", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert cli.main(["import", str(portal_env / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert counts() == (0, 0)


def test_cli_import_creates_then_does_nothing(portal_env, capsys, counts):
    path = portal_env / "good.json"
    path.write_text(json.dumps(GOOD))
    assert cli.main(["import", str(path)]) == 0
    assert "events: 3 created, 0 updated" in capsys.readouterr().out
    assert cli.main(["import", str(path)]) == 0
    assert "programmes: 0 created, 0 updated; events: 0 created, 0 updated" in capsys.readouterr().out
    assert counts() == (2, 3)


# --- the demo -------------------------------------------------------------------------------


def test_demo_loads_idempotently_and_shows_every_state(run, sessions, counts):
    report, added = run(demo.load)
    assert report.programmes_created == 6 and report.events_created >= 30
    assert added > 0
    loaded = counts()

    again, added_again = run(demo.load)
    assert (again.programmes_created, again.programmes_updated, again.events_created, again.events_updated) == (0, 0, 0, 0)
    assert added_again == 0
    assert counts() == loaded

    with sessions() as session:
        codes = set(session.scalars(select(Programme.code)))
        assert codes == {"appsmo", "appsno", "tatc", "isf-asia", "srp-ep", "iccs"}
        events = session.scalars(select(Event)).all()
        assert len(events) >= 30
        confirmed = dict(
            session.execute(
                select(Registration.event_id, func.count())
                .where(Registration.status == RegistrationStatus.CONFIRMED)
                .group_by(Registration.event_id)
            ).all()
        )
        public_upcoming = {card.event.slug for card in list_events(session, per_page=1000).items}
        full = [
            e for e in events
            if e.status == EventStatus.PUBLISHED and e.capacity is not None and confirmed.get(e.id, 0) >= e.capacity
        ]
        # Placeholder registrations never exceed capacity.
        assert all(confirmed.get(e.id, 0) <= e.capacity for e in events if e.capacity is not None)
        cancelled = [e for e in events if e.status == EventStatus.CANCELLED]
        drafts = [e for e in events if e.status == EventStatus.DRAFT]
        past = list_events(session, past=True, per_page=1000).items

        # Counted whatever today's date: the demo's dates are fixed, and a test must not
        # start failing on the day one of them passes.
        assert len(full) >= 3, "the demo should show at least three full events"
        assert len(cancelled) == 1
        assert past, "the demo should have past events"
        assert drafts
        for draft in drafts:
            assert draft.slug not in public_upcoming
            with pytest.raises(NotFound):
                get_event_page(session, draft.slug)


def test_programmes_name_their_next_run_and_count_the_runs_ahead(sessions, make_programme, make_event):
    soon, later = future(5), future(40)
    tatc = make_programme(code="tatc", name="TATC")
    make_programme(code="iccs", name="ICCS")
    make_event(title="TATC later", programme_id=tatc.id, starts_at=later, ends_at=later + timedelta(hours=2))
    make_event(title="TATC soon", programme_id=tatc.id, starts_at=soon, ends_at=soon + timedelta(hours=2))
    make_event(title="TATC sooner, cancelled", programme_id=tatc.id, status=EventStatus.CANCELLED, starts_at=future(2), ends_at=future(2) + timedelta(hours=1))
    make_event(title="TATC draft", programme_id=tatc.id, status=EventStatus.DRAFT, published_at=None, starts_at=future(1), ends_at=future(1) + timedelta(hours=1))
    make_event(title="TATC past", programme_id=tatc.id, starts_at=future(-9), ends_at=future(-9) + timedelta(hours=1))
    make_event(title="No programme", starts_at=future(3), ends_at=future(3) + timedelta(hours=1))
    with sessions() as session:
        summaries = list_programmes(session)
    assert [(s.programme.code, s.next_event.title if s.next_event else None, s.upcoming_count) for s in summaries] == [
        ("iccs", None, 0), ("tatc", "TATC soon", 2),
    ]


def test_the_listing_offers_the_public_categories_and_every_programme(sessions, make_programme, make_event):
    make_programme(code="tatc", name="TATC")
    make_programme(code="appsmo", name="APPSMO")
    make_event(category="seminar")
    make_event(category="seminar")
    make_event(category="webinar", status=EventStatus.CANCELLED)
    make_event(category="lecture", starts_at=future(-9), ends_at=future(-9) + timedelta(hours=1))
    make_event(category="course", status=EventStatus.DRAFT, published_at=None)
    with sessions() as session:
        listing = get_listing(session, q="nothing at all")
    assert listing.categories == ["lecture", "seminar", "webinar"]
    assert [p.code for p in listing.programmes] == ["appsmo", "tatc"]

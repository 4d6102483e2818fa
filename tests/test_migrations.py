"""The migrations: upgrade to head, down to base and up again on an empty database of each
engine, a schema at head that matches the models exactly, and the data migrations with rows
in place."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from portal import (
    migrate,
    models,  # noqa: F401  (fills the metadata)
)
from portal.catalogue.listing import list_events
from portal.db import Base, make_engine
from portal.models import Event, Registration
from portal.models.search import include_name
from portal.questions.store import Owner, definition, definition_for_event, find_form
from tests.conftest import PG_URL, scratch_postgres


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it: a fresh SQLite file, or a scratch PostgreSQL database."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with scratch_postgres("portal_migrate") as url:
        yield url


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _mapped(tables: set[str]) -> set[str]:
    """The tables less the search index's (SQLite's FTS5 tables), which no model maps."""
    return {t for t in tables if include_name(t, "table", {})}


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_url):
    head = ScriptDirectory.from_config(migrate.alembic_config(empty_url)).get_current_head()
    model_tables = set(Base.metadata.tables)
    assert {"programmes", "events", "registrations", "outbox", "change_marker"} <= model_tables

    migrate.upgrade(empty_url)
    assert _revision(empty_url) == head
    assert _mapped(_tables(empty_url)) == model_tables | {"alembic_version"}

    migrate.downgrade(empty_url, "base")
    assert _revision(empty_url) is None
    assert _tables(empty_url) <= {"alembic_version"}

    migrate.upgrade(empty_url)
    assert _revision(empty_url) == head
    assert _mapped(_tables(empty_url)) == model_tables | {"alembic_version"}

    # The migrated database works: the change marker the unit of work bumps is there.
    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM change_marker WHERE id = 1")).scalar_one() == 0
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(empty_url):
    migrate.upgrade(empty_url)
    assert _differences(empty_url) == [], "the models and the migrations differ: write a migration"


def test_0005_names_who_made_the_entries_already_logged(empty_url):
    """Entries logged before 0005 keep who made them; entries only 0005 can tell apart (a
    participant's, the portal's) go on the way down rather than pass for the command line's."""
    migrate.upgrade(empty_url, "0003")
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO organisers (id, email, name, password_hash, is_admin, active, session_key, created_at)"
                " VALUES (1, 'o@example.org', 'O', 'x', false, true, 'k', '2026-11-27 10:00:00')"
            ))
            for organiser in (1, None):
                conn.execute(text(
                    "INSERT INTO audit_entries (organiser_id, action, before, after, created_at)"
                    " VALUES (:o, 'event.update', '{}', '{}', '2026-11-27 10:00:00')"
                ), {"o": organiser})
        migrate.upgrade(empty_url)
        with engine.begin() as conn:
            rows = conn.execute(text("SELECT organiser_id, actor FROM audit_entries ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [(1, "organiser"), (None, "command_line")]
            conn.execute(text(
                "INSERT INTO audit_entries (actor, action, before, after, created_at)"
                " VALUES ('participant', 'registration.cancel', '{}', '{}', '2026-11-27 11:00:00')"
            ))
            with pytest.raises(Exception, match="(?i)check"):
                with conn.begin_nested():
                    conn.execute(text(
                        "INSERT INTO audit_entries (actor, action, before, after, created_at)"
                        " VALUES ('someone', 'event.update', '{}', '{}', '2026-11-27 11:00:00')"
                    ))
        migrate.downgrade(empty_url, "0003")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT organiser_id FROM audit_entries ORDER BY id")).scalars().all() == [1, None]
    finally:
        engine.dispose()


def test_0006_lifts_the_account_locks_and_its_pairs_go_on_the_way_down(empty_url):
    """From 0006 an account is locked at one address only, never as a whole: the account
    locks in place are lifted on the way up, the counts kept. On the way down the pairs go
    with their scope; the other rows stay."""
    migrate.upgrade(empty_url, "0005")
    engine = create_engine(empty_url)
    row = (
        'INSERT INTO sign_in_throttle (scope, "key", failures, window_started_at, locked_until, updated_at)'
        " VALUES (:scope, :key, 5, '2026-12-07 10:00:00', '2026-12-07 10:15:00', '2026-12-07 10:00:00')"
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(row), [{"scope": "account", "key": "o@example.org"}, {"scope": "address", "key": "203.0.113.66"}])
        migrate.upgrade(empty_url)
        with engine.begin() as conn:
            rows = conn.execute(text('SELECT scope, "key", failures, locked_until IS NULL FROM sign_in_throttle ORDER BY id')).all()
            assert [tuple(r) for r in rows] == [("account", "o@example.org", 5, True), ("address", "203.0.113.66", 5, False)]
            # An address, a space and the longest email address fit in a key.
            conn.execute(text(row), {"scope": "account_address", "key": "2001:db8:1:2::/64 " + "o" * 240 + "@example.org"})
            with pytest.raises(Exception, match="(?i)check"), conn.begin_nested():
                conn.execute(text(row), {"scope": "someone", "key": "x"})
        migrate.downgrade(empty_url, "0005")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT scope FROM sign_in_throttle ORDER BY id")).scalars().all() == ["account", "address"]
            with pytest.raises(Exception, match="(?i)check"), conn.begin_nested():
                conn.execute(text(row), {"scope": "account_address", "key": "203.0.113.66 o@example.org"})
    finally:
        engine.dispose()


def _search(url: str, q: str) -> list[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return [card.event.title for card in list_events(session, q=q).items]
    finally:
        engine.dispose()


def _search_objects(url: str) -> set[str]:
    """What 0007 made: SQLite's FTS5 tables and triggers, PostgreSQL's column, index,
    triggers and functions."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                return set(conn.execute(text(
                    "SELECT name FROM sqlite_master WHERE name LIKE 'event_search%' OR type = 'trigger'"
                )).scalars())
            found = set(conn.execute(text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                " UNION ALL SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE '%search%'"
                " UNION ALL SELECT indexname FROM pg_indexes WHERE indexname = 'ix_events_search_vector'"
            )).scalars())
            return found | {c["name"] for c in inspect(conn).get_columns("events") if c["name"] == "search_vector"}
    finally:
        engine.dispose()


EVENT_ROW = (
    "INSERT INTO events (uid, slug, title, programme_id, category, starts_at, ends_at, timezone, all_day, venue,"
    " address, capacity, waitlist, status, description, speakers, sequence, created_at, updated_at)"
    " VALUES (:slug, :slug, :title, 1, 'seminar', '2099-01-01 10:00:00', '2099-01-01 12:00:00', 'Asia/Singapore', false,"
    " 'RSIS', '', 10, true, 'published', 'A talk.', :speakers, 0, '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
)


def test_0007_indexes_the_events_already_there_and_goes_cleanly(empty_url):
    """Events written before 0007 are searchable after it (title, speakers as the ORM writes
    them, JSON escapes and all, programme); on the way down every object it made goes, and
    events can still be written."""
    migrate.upgrade(empty_url, "0006")
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO programmes (id, code, name, admission, summary, description, created_at, updated_at)"
                " VALUES (1, 'isf-asia', 'International Security Forum', 'open', '', '', '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
            ))
            conn.execute(text(EVENT_ROW), {"slug": "before", "title": "Maritime Café", "speakers": '["Dr \\u00dcnal \\u00c7elik"]'})
        migrate.upgrade(empty_url)
        assert _search(empty_url, "cafe maritime") == ["Maritime Café"]
        assert _search(empty_url, "ünal celik") == ["Maritime Café"]
        assert _search(empty_url, "isf forum") == ["Maritime Café"]
        with engine.begin() as conn:
            conn.execute(text(EVENT_ROW), {"slug": "after", "title": "Cyber norms", "speakers": "[]"})
            if engine.dialect.name == "sqlite":
                # FTS5 checks its index against the text it holds; it raises if they differ.
                conn.execute(text("INSERT INTO event_search (event_search) VALUES ('integrity-check')"))
        assert _search(empty_url, "cyber security") == ["Cyber norms"]

        migrate.downgrade(empty_url, "0006")
        assert _search_objects(empty_url) == set()
        with engine.begin() as conn:
            conn.execute(text(EVENT_ROW), {"slug": "between", "title": "Written at 0006", "speakers": "[]"})
            conn.execute(text("UPDATE programmes SET name = 'Renamed' WHERE id = 1"))
            conn.execute(text("DELETE FROM events WHERE slug = 'after'"))

        migrate.upgrade(empty_url)
        assert sorted(_search(empty_url, "renamed")) == ["Maritime Café", "Written at 0006"]
        assert _search(empty_url, "cyber") == []
    finally:
        engine.dispose()


PROGRAMME_ROW = (
    "INSERT INTO programmes (id, code, name, admission, summary, description, created_at, updated_at)"
    " VALUES (:id, :code, :code, :admission, '', '', '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
)
PROGRAMME_EVENT_ROW = EVENT_ROW.replace("VALUES (:slug, :slug, :title, 1,", "VALUES (:slug, :slug, :title, :programme,")
REGISTRATION_ROW = (
    "INSERT INTO registrations (id, event_id, email, name, organisation, answers, status, token, consented_at,"
    " confirmed_at, created_at, updated_at)"
    " VALUES (:id, :event, :email, 'A participant', '', :answers, 'confirmed', :token, '2026-12-07 10:00:00',"
    " '2026-12-07 10:00:00', '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
)
# The answers given to the Python questions of 0008, one registration per programme (and one
# for an event of no programme), with hostile text that must come through untouched.
ANSWERS_0008 = {
    "appsmo": {"position": "Director", "nominating_authority": "Ministry of Defence", "nominator_email": "attache@example.org",
               "rank": "Brigadier-General", "service": "Army", "country": "Ruritania"},
    "tatc": {"position": "Analyst", "billing_contact": "Accounts <script>", "billing_email": "billing@example.org"},
    "isf-asia": {"position": "", "statement": "=HYPERLINK(\"x\") " + "I would bring a great deal. " * 3},
    "iccs": {"position": "Lecturer \u202e"},
    None: {"position": "Fellow"},
}


def _answers(url: str) -> dict[int, object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, answers FROM registrations ORDER BY id")).all()
    finally:
        engine.dispose()
    return {id_: json.loads(a) if isinstance(a, str) else a for id_, a in rows}


def _forms(url: str) -> dict[str | None, tuple[list[dict], bool, int]]:
    """Each form by its programme's code (None: the site's default): questions, whether the
    organisation is required, version."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT p.code, f.event_id, f.questions, f.organisation_required, f.version"
                " FROM forms f LEFT JOIN programmes p ON p.id = f.programme_id ORDER BY f.id"
            )).all()
    finally:
        engine.dispose()
    assert all(event_id is None for _, event_id, *_ in rows), "0009 writes no event's own form"
    assert len({code for code, *_ in rows}) == len(rows), "one form per programme and one default"
    return {code: (json.loads(q) if isinstance(q, str) else q, bool(required), version) for code, _, q, required, version in rows}


def test_0009_writes_today_s_questions_as_forms_under_the_same_keys(empty_url):
    """The Python questions of 0008 become forms: the default (position) and, per programme,
    position, the nomination questions when it admits by nomination, then its own. Every
    answer already given stays where it was and is a question of the form its event uses.
    On the way down the new tables and columns go and the answers stay; up again is the same."""
    migrate.upgrade(empty_url, "0008")
    engine = create_engine(empty_url)
    programmes = {"appsmo": "nomination", "tatc": "application", "isf-asia": "application", "iccs": "open"}
    try:
        with engine.begin() as conn:
            for n, (code, admission) in enumerate(programmes.items(), start=1):
                conn.execute(text(PROGRAMME_ROW), {"id": n, "code": code, "admission": admission})
            for n, code in enumerate([*programmes, None], start=1):
                conn.execute(text(PROGRAMME_EVENT_ROW), {
                    "slug": f"run-{n}", "title": f"Run {n}", "speakers": "[]",
                    "programme": n if code else None,
                })
                conn.execute(text(REGISTRATION_ROW), {
                    "id": n, "event": conn.execute(text("SELECT id FROM events WHERE slug = :s"), {"s": f"run-{n}"}).scalar_one(),
                    "email": f"p{n}@example.org", "token": f"token-{n}", "answers": json.dumps(ANSWERS_0008[code]),
                })
    finally:
        engine.dispose()
    answers = _answers(empty_url)
    assert list(answers.values()) == list(ANSWERS_0008.values())

    migrate.upgrade(empty_url)

    forms = _forms(empty_url)
    keys = {code: [q["key"] for q in questions] for code, (questions, _, _) in forms.items()}
    assert keys == {
        None: ["position"],
        "appsmo": ["position", "nominating_authority", "nominator_email", "rank", "service", "country"],
        "tatc": ["position", "billing_contact", "billing_email"],
        "isf-asia": ["position", "statement"],
        "iccs": ["position"],
    }
    assert {code: required for code, (_, required, _) in forms.items()} == {None: False, "appsmo": False, "tatc": True, "isf-asia": False, "iccs": False}
    assert {version for _, _, version in forms.values()} == {1}
    # What the form of each registration's event asks covers every answer it holds.
    sessions_engine = make_engine(empty_url)
    try:
        with Session(sessions_engine) as session:
            for registration in session.scalars(select(Registration).order_by(Registration.id)):
                event = session.get(Event, registration.event_id)
                form = definition_for_event(session, event)
                assert set(registration.answers) <= set(form.by_key()), registration.answers
                assert registration.endorsement is None and registration.endorsement_token is None
            appsmo = definition(find_form(session, Owner(programme_id=1)))
            assert appsmo.nominator() is not None and appsmo.nominator().key == "nominator_email"
            assert [q.key for q in appsmo.questions if q.required] == ["nominating_authority", "rank", "service", "country"]
            statement = definition(find_form(session, Owner(programme_id=3))).by_key()["statement"]
            assert (statement.type, statement.min_length, statement.max_length) == ("textarea", 50, 3000)
    finally:
        sessions_engine.dispose()
    assert _answers(empty_url) == answers

    migrate.downgrade(empty_url, "0008")
    assert not {"forms", "choice_picks", "uploads"} & _tables(empty_url)
    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("registrations")}
    finally:
        engine.dispose()
    assert not {"endorsement", "endorsement_token", "endorsement_at"} & columns
    assert _answers(empty_url) == answers

    migrate.upgrade(empty_url)
    assert _forms(empty_url) == forms
    assert _answers(empty_url) == answers
    assert _differences(empty_url) == []


def test_0010_keeps_the_outbox_and_events_search_through_the_rebuild_and_back(empty_url):
    """0010 rebuilds the outbox on SQLite (to give it a named foreign key): its messages stay,
    with no mailing and no extra headers; events keep their search index (added to in place);
    on the way down the messages stay again and the new tables go."""
    migrate.upgrade(empty_url, "0009")
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO programmes (id, code, name, admission, summary, description, created_at, updated_at)"
                " VALUES (1, 'iccs', 'Cohesive Societies', 'open', '', '', '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
            ))
            conn.execute(text(EVENT_ROW), {"slug": "kept", "title": "Maritime Café", "speakers": "[]"})
            conn.execute(text(
                "INSERT INTO outbox (kind, to_address, subject, body_text, body_html, attachments, status, attempts,"
                " next_attempt_at, last_error, created_at) VALUES ('confirmed', 'a@example.org', 'Hello', 'Body', '',"
                " '[]', 'queued', 0, '2026-12-07 10:00:00', '', '2026-12-07 10:00:00')"
            ))
        migrate.upgrade(empty_url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT to_address, subject, mailing_id, headers FROM outbox")).one()
            reminders = conn.execute(text("SELECT reminders, followup FROM events")).one()
        assert (row.to_address, row.subject, row.mailing_id, row.headers) == ("a@example.org", "Hello", None, None)
        assert tuple(reminders) == (None, None)
        assert _search(empty_url, "maritime") == ["Maritime Café"]
        migrate.downgrade(empty_url, "0009")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT subject FROM outbox")).scalar_one() == "Hello"
            assert conn.execute(text("SELECT title FROM events")).scalar_one() == "Maritime Café"
        assert not {"subscribers", "mailings", "event_messages"} & _tables(empty_url)
    finally:
        engine.dispose()


def test_0010_counts_the_events_published_already_as_announced(empty_url):
    migrate.upgrade(empty_url, "0009")
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO programmes (id, code, name, admission, summary, description, created_at, updated_at)"
                " VALUES (1, 'iccs', 'Cohesive Societies', 'open', '', '', '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
            ))
            conn.execute(text(EVENT_ROW), {"slug": "out", "title": "Published", "speakers": "[]"})
            conn.execute(text(EVENT_ROW.replace("'published'", "'draft'")), {"slug": "draft", "title": "Draft", "speakers": "[]"})
        migrate.upgrade(empty_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, kind, finished_at IS NOT NULL AS done, event_id FROM mailings")).all()
            published = conn.execute(text("SELECT id FROM events WHERE slug = 'out'")).scalar_one()
        assert [(r.key, r.kind, bool(r.done), r.event_id) for r in rows] == [(f"announce:{published}", "announce", True, published)]
    finally:
        engine.dispose()


def test_0011_gives_the_confirmed_their_codes_and_the_checked_in_their_day(empty_url):
    migrate.upgrade(empty_url, "0010")
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO programmes (id, code, name, admission, summary, description, created_at, updated_at)"
                " VALUES (1, 'iccs', 'Cohesive Societies', 'open', '', '', '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
            ))
            conn.execute(text(EVENT_ROW), {"slug": "run", "title": "Run", "speakers": "[]"})
            event = conn.execute(text("SELECT id FROM events")).scalar_one()
            for n in (1, 2, 3):
                conn.execute(text(REGISTRATION_ROW), {"id": n, "event": event, "email": f"p{n}@example.org", "token": f"t-{n}", "answers": "{}"})
            conn.execute(text("UPDATE registrations SET status = 'waitlisted', confirmed_at = NULL WHERE id = 3"))
            # Checked in at 23:30 UTC: already the next day in Singapore, the event's zone.
            conn.execute(text("UPDATE registrations SET checked_in_at = '2026-12-07 23:30:00' WHERE id = 1"))
        migrate.upgrade(empty_url)
        with engine.connect() as conn:
            codes = dict(conn.execute(text("SELECT id, checkin_code FROM registrations")).all())
            check_ins = conn.execute(text("SELECT registration_id, day FROM check_ins")).all()
        assert codes[3] is None and codes[1] != codes[2]
        assert all(len(codes[n]) == 10 and codes[n].isalnum() for n in (1, 2))
        assert [(r, str(d)) for r, d in check_ins] == [(1, "2026-12-08")]
        migrate.downgrade(empty_url, "0010")
        assert not {"check_ins", "certificates"} & _tables(empty_url)
    finally:
        engine.dispose()

"""Fixtures: a fresh migrated database per test (SQLite by default, PostgreSQL when
PORTAL_TEST_DATABASE_URL names one), the app, a client, and factories."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpcore2
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from portal import migrate
from portal.app import create_app
from portal.db import Base, make_engine, make_session_factory, run_unit_of_work, utcnow
from portal.models import Admission, Event, EventStatus, OutboxMessage, Programme, Registration, RegistrationStatus
from portal.registrations.participants import new_token
from portal.settings import Settings
from portal.site import Site

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
BASE_URL = "http://testserver"

# Every HTTP client the tests make (the server tests make hundreds) would read the system's
# certificate authorities again, about 50 ms of CPU each: a minute of the suite. The tests
# speak plain HTTP to this machine, so one context, read once, serves every client.
httpcore2.default_ssl_context = functools.lru_cache(maxsize=None)(httpcore2.default_ssl_context)


def pytest_report_header(config: pytest.Config) -> str:
    return f"database engine: {make_url(PG_URL).get_backend_name() if PG_URL else 'sqlite'}"


@pytest.fixture(scope="session")
def engine_name() -> str:
    return make_url(PG_URL).get_backend_name() if PG_URL else "sqlite"


# --- one migrated database for the session, cloned or emptied per test -----------------------


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite: a migrated file to copy per test. PostgreSQL: a migrated database of our own."""
    if not PG_URL:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        migrate.upgrade(f"sqlite:///{path}")
        yield str(path)
        return
    with scratch_postgres("portal_test", fast=True) as url:
        migrate.upgrade(url)
        yield url


@contextlib.contextmanager
def scratch_postgres(prefix: str, *, fast: bool = False) -> Iterator[str]:
    """A new, empty PostgreSQL database on PG_URL's server for as long as the block lasts,
    dropped after (whoever is still connected). With `fast`, commits to it need not wait for
    its WAL to reach the disk (they stay atomic and isolated; only a crash of the server could
    lose the last ones): every connection, the test servers' included, inherits this."""
    admin_url = make_url(PG_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        if fast:
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_emptying_engines: dict[str, Any] = {}


_default_forms: dict[str, dict[str, Any]] = {}


def _empty_postgres(url: str) -> None:
    # DELETE, children first, rather than TRUNCATE: on tables this small TRUNCATE costs about
    # 55 ms a test (new files for every table), DELETE about 3 ms. Ids are not reset; no test
    # may depend on their values.
    engine = _emptying_engines.get(url)
    if engine is None:
        engine = _emptying_engines[url] = create_engine(url, pool_size=1)
    with engine.begin() as conn:
        forms = Base.metadata.tables["forms"]
        if url not in _default_forms:
            # The site's default form as the migrations wrote it (0009): put back after emptying,
            # as a copy of the SQLite template file has it.
            _default_forms[url] = dict(conn.execute(
                select(forms.c.questions, forms.c.organisation_required, forms.c.version, forms.c.created_at, forms.c.updated_at)
                .where(forms.c.programme_id.is_(None), forms.c.event_id.is_(None))
            ).mappings().one())
        # One round trip for every table, children first.
        conn.exec_driver_sql("; ".join(
            [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables) if t.name != "change_marker"]
            + ["UPDATE change_marker SET version = 0"]
        ))
        conn.execute(forms.insert().values(**_default_forms[url]))


def fresh_database(template: str, home: Path) -> str:
    """A migrated, empty database for a real server under test: a copy of the template file
    in `home` (SQLite), or the session's own database emptied (PostgreSQL)."""
    if PG_URL:
        _empty_postgres(template)
        return template
    shutil.copyfile(template, home / "portal.sqlite3")
    return f"sqlite:///{home / 'portal.sqlite3'}"


@pytest.fixture
def portal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    """The environment of a `portal` command run in the test (cli.main): this test's
    database, a secret key, nothing else of the machine's PORTAL_ settings, run in tmp_path."""
    for name in ("PORTAL_BASE_URL", "PORTAL_SMTP_URL", "PORTAL_TIMEZONE", "PORTAL_MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORTAL_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_SECRET_KEY", "cli-test-secret")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> str:
    if not PG_URL:
        path = tmp_path / "portal.sqlite3"
        shutil.copyfile(_template, path)
        return f"sqlite:///{path}"
    _empty_postgres(_template)
    return _template


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=Secret("test-secret-key"),
        base_url=BASE_URL,
        var_dir=tmp_path / "var",
        cache_seconds=0.0,
    )


@pytest.fixture
def site(settings: Settings) -> Site:
    return Site(base_url=settings.base_url, mail_from=settings.mail_from, timezone=settings.timezone)


@pytest.fixture
def sessions(database_url: str, settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url, pool_size=5)
    yield make_session_factory(engine, keyring=settings.keyring, upload_directory=settings.upload_directory)
    engine.dispose()


@pytest.fixture
def run(sessions: sessionmaker[Session]) -> Callable[..., Any]:
    """run(fn, *args, **kwargs): call a service in one writing transaction, as the web does."""

    def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return run_unit_of_work(sessions, fn, *args, write=True, **kwargs)

    return _run


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as c:
        yield c


# --- factories ----------------------------------------------------------------------------

_counter = itertools.count(1)


@pytest.fixture
def make_programme(run: Callable[..., Any]) -> Callable[..., Programme]:
    def _make(**overrides: Any) -> Programme:
        n = next(_counter)
        values = {"code": f"prog-{n}", "name": f"Programme {n}", "admission": Admission.OPEN, "summary": "", "description": ""}
        values.update(overrides)

        def _add(session: Session) -> Programme:
            programme = Programme(**values)
            session.add(programme)
            session.flush()
            return programme

        return run(_add)

    return _make


@pytest.fixture
def make_event(run: Callable[..., Any]) -> Callable[..., Event]:
    """make_event(**overrides): a published event starting in 30 days, 10 seats, waiting list on."""

    def _make(**overrides: Any) -> Event:
        n = next(_counter)
        # 02:00 UTC (10:00 in Singapore) in 30 days: a two-hour event stays on one day in its
        # zone whatever the hour the suite runs (from now + 30 days it crossed midnight there
        # between 14:00 and 16:00 UTC).
        starts = (utcnow() + timedelta(days=30)).replace(hour=2, minute=0, second=0, microsecond=0)
        values: dict[str, Any] = {
            "slug": f"event-{n}",
            "title": f"Event {n}",
            "category": "seminar",
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=2),
            "timezone": "Asia/Singapore",
            "venue": "RSIS, Block S4",
            "address": "50 Nanyang Avenue, Singapore",
            "capacity": 10,
            "waitlist": True,
            "status": EventStatus.PUBLISHED,
            "description": "",
            "speakers": [],
            "published_at": utcnow(),
        }
        values.update(overrides)

        def _add(session: Session) -> Event:
            event = Event(**values)
            session.add(event)
            session.flush()
            return event

        return run(_add)

    return _make


@pytest.fixture
def make_registration(run: Callable[..., Any]) -> Callable[..., Registration]:
    """make_registration(event, **overrides): a registration placed directly, bypassing the rules."""

    def _make(event: Event, **overrides: Any) -> Registration:
        n = next(_counter)
        now = utcnow()
        values: dict[str, Any] = {
            "event_id": event.id,
            "email": f"person{n}@example.org",
            "name": f"Person {n}",
            "organisation": "",
            "answers": {},
            "status": RegistrationStatus.CONFIRMED,
            "token": new_token(),
            "confirmed_at": now,
        }
        values.update(overrides)
        if values["status"] == RegistrationStatus.WAITLISTED and "waitlisted_at" not in overrides:
            values["waitlisted_at"] = now
            values["confirmed_at"] = None

        def _add(session: Session) -> Registration:
            registration = Registration(**values)
            session.add(registration)
            session.flush()
            return registration

        return run(_add)

    return _make


@pytest.fixture
def make_form(run: Callable[..., Any]) -> Callable[..., Any]:
    """make_form(questions, programme=None, event=None, organisation_required=False): store a
    form, in the import's JSON shape, for a programme, an event, or (neither) the site's
    default, as the builder or an import would (save_form). A programme made by
    make_programme has no form of its own: migration 0009 gave forms only to the programmes
    that existed then."""
    from portal.questions.schema import parse_form
    from portal.questions.store import Owner, save_form

    def _make(questions: list[dict[str, Any]], *, programme: Programme | None = None, event: Event | None = None,
              organisation_required: bool = False) -> Any:
        owner = Owner(programme_id=programme.id if programme else None, event_id=event.id if event else None)
        return run(save_form, None, owner, parse_form(questions, organisation_required=organisation_required))

    return _make


def _migration_0009() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "20261207_0009_registration_forms.py"
    spec = importlib.util.spec_from_file_location("migration_0009_forms", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def migrated_form(make_form: Callable[..., Any]) -> Callable[[Programme], Any]:
    """migrated_form(programme): give a programme the form migration 0009 writes for one that
    exists when it runs (APPSMO's military questions, the nomination questions, ISF-Asia's
    statement, TATC's billing contact and required organisation), read from the migration."""
    migration = _migration_0009()

    def _give(programme: Programme) -> Any:
        admission = programme.admission.value if isinstance(programme.admission, Admission) else str(programme.admission)
        return make_form(
            migration.questions_for(programme.code, admission), programme=programme,
            organisation_required=programme.code in migration.ORGANISATION_REQUIRED,
        )

    return _give


@pytest.fixture
def outbox(sessions: sessionmaker[Session]) -> Callable[[], list[OutboxMessage]]:
    """outbox(): every queued message, oldest first."""

    def _read() -> list[OutboxMessage]:
        with sessions() as session:
            return list(session.query(OutboxMessage).order_by(OutboxMessage.id))

    return _read


TOKEN_LINK = re.compile(r"/registrations/([A-Za-z0-9_\-]{40,})")


@pytest.fixture
def manage_link(outbox: Callable[[], list[OutboxMessage]]) -> Callable[[str], str]:
    """manage_link(email): the private token from the newest message sent to that address."""

    def _find(email: str) -> str:
        for message in reversed(outbox()):
            if message.to_address == email.lower():
                match = TOKEN_LINK.search(message.body_text)
                assert match, f"no manage link in the email to {email}"
                return match.group(1)
        raise AssertionError(f"no email to {email}")

    return _find


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def future(days: int = 30) -> datetime:
    return utcnow().replace(microsecond=0) + timedelta(days=days)


def running_today(zone: str = "Asia/Singapore") -> tuple[datetime, datetime]:
    """The start and end (UTC) of an event going on now that stays within today in `zone`
    whatever the hour the suite runs: from an hour ago (or that midnight) to three hours on
    (or the last second of the day). Built from now alone, it became two days near midnight."""
    local = utcnow().replace(microsecond=0).astimezone(ZoneInfo(zone))
    midnight = local.replace(hour=0, minute=0, second=0)
    starts = max(local - timedelta(hours=1), midnight)
    ends = min(local + timedelta(hours=3), midnight + timedelta(days=1, seconds=-1))
    return starts.astimezone(UTC), ends.astimezone(UTC)

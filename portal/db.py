"""Database plumbing: the declarative base, a UTC datetime type, engines and the unit of work."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, bindparam, create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from portal.sealing import Keyring

T = TypeVar("T")
# The execution option of the unit of work's own bookkeeping statements, which change nothing
# a cache shows.
BOOKKEEPING = "portal_bookkeeping"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Whether a write to this table can change a public page or feed. Writes that cannot
    # (the outbox, the audit log, accounts) leave every process's page caches in place, so
    # the delivery worker does not empty them each time it marks a message sent.
    shown_publicly: ClassVar[bool] = True
    # For a table whose rows change only one event's seats (registrations): the column that
    # names the event. A write to it changes that event's seat counts and nothing else, so
    # it leaves the change marker alone and bumps the event's seats_version instead.
    seats_of: ClassVar[str | None] = None


@dataclass(frozen=True)
class Change:
    """What a committed transaction changed, for this process's caches: the change marker's
    new version when it moved (anything public but seats), and the events whose seats did."""

    version: int | None = None
    seats: frozenset[int] = frozenset()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC. Naive datetimes are refused rather than guessed at."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: attach a time zone before storing it")
        value = value.astimezone(timezone.utc)
        # SQLite keeps the text as given; store it without an offset so that text order is
        # time order. PostgreSQL's timestamptz takes the aware value as it is.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine tuned for the portal's use of SQLite or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=20,
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that a
        # writing unit of work can take the write lock up front with BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writing transaction takes SQLite's single write lock at BEGIN. Two writers can
        # then never both read a seat count and both act on it: the second waits (up to the
        # busy timeout) and reads what the first committed.
        if conn.get_execution_options().get("portal_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_session_factory(
    engine: Engine, *, keyring: Keyring | None = None, upload_directory: Path | None = None,
) -> sessionmaker[Session]:
    """Sessions on `engine`; with `keyring`, services that seal sensitive answers find the
    data keys in session.info (portal.sealing.keyring_of); with `upload_directory`, a form
    change that makes a file question sensitive finds the files to seal
    (session.info["upload_directory"])."""
    info: dict[str, Any] = {}
    if keyring:
        info["keyring"] = keyring
    if upload_directory is not None:
        info["upload_directory"] = upload_directory
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True, info=info or None)


def bump_change_version(session: Session) -> int:
    """Record that the data changed, so every process's caches can tell (see changes.py)."""
    return session.execute(
        text("UPDATE change_marker SET version = version + 1 WHERE id = 1 RETURNING version")
    ).scalar_one()


def upsert(session: Session, model: type[Base]) -> Any:
    """INSERT for `model` in the session's dialect, which has ON CONFLICT (on_conflict_do_...)
    on both engines the portal runs on."""
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(model)


def read_change_version(session: Session) -> int:
    return session.execute(text("SELECT version FROM change_marker WHERE id = 1")).scalar_one()


def bump_seats_versions(session: Session, event_ids: set[int]) -> None:
    """Record that these events' seats changed: each event's seats_version rises, in the same
    transaction, so the roster numbers any process keeps for it are known to be old. The rows
    are usually locked by the transaction already (seats.lock_event)."""
    session.execute(
        text("UPDATE events SET seats_version = seats_version + 1 WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": sorted(event_ids)},
        execution_options={BOOKKEEPING: True},
    )


# SQLite has one write lock per database. Threads of one process queue for it here, on a
# lock that wakes the next waiter at once, instead of inside SQLite, whose busy handler
# sleeps in steps of up to 100 ms and made p99 latency seconds under 32 concurrent writers.
_sqlite_write_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _write_lock(factory: sessionmaker[Session]) -> threading.Lock | None:
    engine = factory.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return None
    key = str(engine.url)
    with _locks_guard:
        return _sqlite_write_locks.setdefault(key, threading.Lock())


@contextmanager
def transaction(
    factory: sessionmaker[Session], *, write: bool, on_commit: Callable[[Change], None] | None = None
) -> Iterator[Session]:
    """Open a session in one transaction; commit on success, roll back on any error.

    A writing transaction is exclusive on SQLite from its first statement. When it wrote
    anything public it bumps the change marker, so caches in every process learn of it; when
    it changed only registrations, it bumps those events' seats_version instead, and the
    marker (and with it every kept page and feed of the site) stays. `on_commit` then hears
    what changed, so this process's caches learn of it at once.
    """
    lock = _write_lock(factory) if write else None
    with lock or nullcontext():
        session = factory()
        if write:
            session.connection(execution_options={"portal_write": True})
        try:
            yield session
            change = None
            if write:
                session.flush()
                seats = session.info.get("seats", set())
                if session.info.get("all_seats"):
                    # Registrations changed by a statement that names no event: every event's
                    # seats may have changed.
                    session.execute(text("UPDATE events SET seats_version = seats_version + 1"), execution_options={BOOKKEEPING: True})
                elif seats:
                    bump_seats_versions(session, seats)
                if session.info.get("wrote_public"):
                    change = Change(bump_change_version(session), frozenset(seats))
                elif seats:
                    change = Change(None, frozenset(seats))
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    if on_commit is not None and change is not None:
        on_commit(change)


def _shown_publicly(classes: Any) -> bool:
    return any(getattr(cls, "shown_publicly", True) for cls in classes)


@event.listens_for(Session, "after_flush")
def _remember_write(session: Session, _flush_context: Any) -> None:
    # After a flush the session's new/dirty/deleted collections still hold what was flushed.
    for obj in chain(session.new, session.dirty, session.deleted):
        column = type(obj).seats_of
        if column is not None:
            session.info.setdefault("seats", set()).add(getattr(obj, column))
        elif getattr(type(obj), "shown_publicly", True):
            session.info["wrote_public"] = True


@event.listens_for(Session, "do_orm_execute")
def _remember_bulk_write(state: Any) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and not state.execution_options.get(BOOKKEEPING):
        # A statement on no mapped class (Core or text) counts as a public write, and so does
        # one on registrations, whose events it does not name: when in doubt, let the caches go.
        mappers = state.all_mappers
        if not mappers or _shown_publicly(m.class_ for m in mappers):
            state.session.info["wrote_public"] = True
        if not mappers or any(m.class_.seats_of is not None for m in mappers):
            state.session.info["all_seats"] = True


def run_unit_of_work(
    factory: sessionmaker[Session],
    fn: Callable[..., T],
    *args: Any,
    write: bool = True,
    on_commit: Callable[[Change], None] | None = None,
    **kwargs: Any,
) -> T:
    """Run fn(session, *args, **kwargs) in one transaction and return its result."""
    with transaction(factory, write=write, on_commit=on_commit) as session:
        return fn(session, *args, **kwargs)

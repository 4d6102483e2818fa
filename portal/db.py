"""Database plumbing: the declarative base, a UTC datetime type, engines and the unit of work."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")

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


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def bump_change_version(session: Session) -> int:
    """Record that the data changed, so every process's caches can tell (see changes.py)."""
    return session.execute(
        text("UPDATE change_marker SET version = version + 1 WHERE id = 1 RETURNING version")
    ).scalar_one()


def read_change_version(session: Session) -> int:
    return session.execute(text("SELECT version FROM change_marker WHERE id = 1")).scalar_one()


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
    factory: sessionmaker[Session], *, write: bool, on_commit: Callable[[int], None] | None = None
) -> Iterator[Session]:
    """Open a session in one transaction; commit on success, roll back on any error.

    A writing transaction is exclusive on SQLite from its first statement, and bumps the change
    marker when it wrote anything, so caches in every process learn of it; `on_commit` then
    hears the new version, so this process's caches learn of it at once.
    """
    lock = _write_lock(factory) if write else None
    with lock or nullcontext():
        session = factory()
        if write:
            session.connection(execution_options={"portal_write": True})
        try:
            yield session
            if write:
                session.flush()
                if session.info.get("wrote_public"):
                    session.info["version"] = bump_change_version(session)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    if on_commit is not None and "version" in session.info:
        on_commit(session.info["version"])


def _shown_publicly(classes: Any) -> bool:
    return any(getattr(cls, "shown_publicly", True) for cls in classes)


@event.listens_for(Session, "after_flush")
def _remember_write(session: Session, _flush_context: Any) -> None:
    # After a flush the session's new/dirty/deleted collections still hold what was flushed.
    if _shown_publicly(type(obj) for obj in chain(session.new, session.dirty, session.deleted)):
        session.info["wrote_public"] = True


@event.listens_for(Session, "do_orm_execute")
def _remember_bulk_write(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        # A statement on no mapped class (Core or text) counts as a public write: when in
        # doubt, let the caches go.
        mappers = state.all_mappers
        if not mappers or _shown_publicly(m.class_ for m in mappers):
            state.session.info["wrote_public"] = True


def run_unit_of_work(
    factory: sessionmaker[Session],
    fn: Callable[..., T],
    *args: Any,
    write: bool = True,
    on_commit: Callable[[int], None] | None = None,
    **kwargs: Any,
) -> T:
    """Run fn(session, *args, **kwargs) in one transaction and return its result."""
    with transaction(factory, write=write, on_commit=on_commit) as session:
        return fn(session, *args, **kwargs)

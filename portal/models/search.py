"""The events' search index: the database's own, kept by triggers (migration 0007), never
written by the ORM. On SQLite the FTS5 table `event_search` (rowid = events.id) with the
shadow tables FTS5 makes for it; on PostgreSQL the column events.search_vector and its GIN
index.

They are not mapped, on purpose: each engine has a different one, no service reads or
writes them as rows, and a mapped events.search_vector would be loaded with every event.
Alembic's comparison of the models with the database skips them by name (`include_name`,
used by migrations/env.py and tests/test_migrations.py), so autogenerate neither drops them
nor asks for them; every other table, column and index is still compared.
"""

from __future__ import annotations

from collections.abc import Mapping

SEARCH_TABLE = "event_search"
# FTS5's own tables for event_search: the index, its segments, the text, lengths, settings.
SEARCH_SHADOW_TABLES = frozenset(f"{SEARCH_TABLE}_{part}" for part in ("data", "idx", "content", "docsize", "config"))
SEARCH_VECTOR = "search_vector"
SEARCH_INDEX = "ix_events_search_vector"


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic's include_name hook: False for the search index's tables, column and index."""
    if type_ == "table":
        return name != SEARCH_TABLE and name not in SEARCH_SHADOW_TABLES
    if type_ == "column":
        return not (parent_names.get("table_name") == "events" and name == SEARCH_VECTOR)
    if type_ == "index":
        return name != SEARCH_INDEX
    return True

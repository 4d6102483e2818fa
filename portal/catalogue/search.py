"""Full-text search of the public events: which events hold every word typed, and how well.

The index is the database's own (models/search.py, migration 0007): FTS5 on SQLite, a
tsvector with a GIN index on PostgreSQL, both kept by triggers in the writing transaction.
Each engine normalises the text indexed and the words typed alike: case and accents
ignored, punctuation a space between words. Each word is a prefix ("mari" finds "Maritime") and every word
must match, in any order, in the title, description, venue, speakers or the programme's
name or code.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select, table
from sqlalchemy.orm import Session

from portal.models import Event
from portal.models.search import SEARCH_TABLE, SEARCH_VECTOR

# FTS5's bm25() weights, in the table's column order (title, description, venue, programme,
# speakers): a word in the title counts most, one in the description least. PostgreSQL's
# weights are in the index itself (A title, B programme and speakers, C venue, D description).
_BM25_WEIGHTS = (10.0, 1.0, 2.0, 4.0, 4.0)

_fts = table(SEARCH_TABLE)
_fts_rowid = literal_column(f"{SEARCH_TABLE}.rowid")
_vector = literal_column(f"{Event.__tablename__}.{SEARCH_VECTOR}")


def fts5_query(words: list[str]) -> str:
    """An FTS5 MATCH expression: every word a quoted prefix, all required. The words hold
    letters and digits only (text.search_words), so quoting them leaves no syntax to abuse."""
    return " AND ".join(f'"{word}"*' for word in words)


def matching(session: Session, query: Select[Any], words: list[str]) -> tuple[Select[Any], ColumnElement[Any]]:
    """`query` (over Event) narrowed to the events that match every word, and their rank:
    lower is a better match."""
    if session.get_bind().dialect.name == "postgresql":
        # An uncorrelated scalar subquery is computed once per statement (an InitPlan), not
        # once per row, and its value can drive the GIN index scan.
        tsquery = select(func.event_search_query(" ".join(words))).scalar_subquery()
        narrowed = query.where(_vector.op("@@", is_comparison=True)(tsquery))
        # ts_rank is higher for a better match, bm25 lower: negated, both sort ascending.
        return narrowed, -func.ts_rank(_vector, tsquery)
    narrowed = query.join(_fts, _fts_rowid == Event.id).where(literal_column(SEARCH_TABLE).match(fts5_query(words)))
    return narrowed, func.bm25(literal_column(SEARCH_TABLE), *_BM25_WEIGHTS)

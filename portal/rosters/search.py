"""Searching a roster by name, email or organisation, off the search index: the roster page
and the door share it. A door volunteer searches by name and organisation only (`email=False`):
their pages never show an address, and finding people by part of one would tell it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from portal.models import Registration, RegistrationStatus
from portal.text import like_pattern

# A search reads Registration.search_text: name, email and organisation, lower-cased and
# joined by line breaks, kept by the database and held in the index
# (event_id, status, search_text).
_FIELD_BREAK = "\n"
# Past this many matches a search says "more than" rather than count them all.
MAX_COUNT = 1000


def _fields_match(session: Session, q: str, *, email: bool = True) -> ColumnElement[bool]:
    """Name, email (unless `email` is False) or organisation contains q, ignoring case,
    tested field by field."""
    pattern = like_pattern(q)
    columns = (Registration.name, Registration.email, Registration.organisation) if email else (Registration.name, Registration.organisation)
    if session.get_bind().dialect.name == "postgresql":
        return or_(*(c.ilike(pattern, escape="\\") for c in columns))
    return or_(*(c.like(pattern, escape="\\") for c in columns))


def matches(session: Session, q: str, *, email: bool = True) -> ColumnElement[bool]:
    """Name, email or organisation contains q, ignoring case: the same matches as testing each
    field with LIKE (SQLite: ASCII letters only) or ILIKE (PostgreSQL), but one test of one
    indexed column. like_pattern lower-cases the needle; on SQLite the column's lower() then
    agrees with LIKE, which also folds ASCII only, and on PostgreSQL ILIKE is lower() of both
    sides, which is what this does. A needle with a line break could match across two fields,
    so it is tested field by field (no search box can send one). Without `email` (a door
    volunteer's search) the fields are tested one by one, leaving the address out: the
    search index holds it among the others."""
    pattern = like_pattern(q)
    if not email or _FIELD_BREAK in pattern:
        return _fields_match(session, q, email=email)
    if session.get_bind().dialect.name == "postgresql":
        return Registration.search_text.like(func.lower(pattern), escape="\\")
    # LIKE folds ASCII case, which changes nothing here (both sides are lower case already),
    # and costs a sixth less than instr() a row.
    return Registration.search_text.like(pattern, escape="\\")


def matching_ids(
    session: Session, event_id: int, statuses: list[RegistrationStatus], q: str, *, email: bool = True,
) -> list[int] | None:
    """The ids of the event's registrations in `statuses` that match the search q, read off the
    search index alone; None when more than MAX_COUNT match.

    A search that matches few rows is the slow one for the usual plan, which walks the sort's
    index and visits row after row looking for a page of matches: with no match at all it
    visits every row. Reading the matches' ids first costs one pass over a narrow index, after
    which the page is a sort of at most MAX_COUNT rows and the count is known. When more than
    MAX_COUNT match, they are common enough for the usual plan to find a page soon."""
    statement = select(Registration.id).where(
        Registration.event_id == event_id,
        # Named even when it is every status: SQLite's planner (which has no statistics) then
        # takes the search index, whose second column is the status, over (event_id, id),
        # which would visit every row to read its search_text.
        Registration.status.in_(statuses),
        matches(session, q, email=email),
    ).limit(MAX_COUNT + 1)
    ids = list(session.scalars(statement))
    return ids if len(ids) <= MAX_COUNT else None

"""The columns of an event's roster table: which there are, which an organiser sees at a
glance, and the choice each organiser keeps (organisers.roster_columns). The name is always
shown; it is the row's heading and its link."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from portal.models import Event, Organiser, event_by_slug

# Every column that may be hidden, in the order the table shows them: name -> label.
COLUMNS: dict[str, str] = {
    "email": "Email",
    "organisation": "Organisation",
    "status": "Status",
    "endorsement": "Endorsement",
    "registered": "Registered",
    "checked_in": "Checked in",
    "answers": "Answers to the form",
    "actions": "Actions",
}
# What an organiser needs at a glance; the table fits a 1,280 px window with these.
DEFAULT: tuple[str, ...] = ("organisation", "status", "registered", "checked_in", "actions")


@dataclass(frozen=True)
class ColumnChoice:
    """The columns one organiser sees, and whether they are the default ones."""

    shown: frozenset[str]
    default: bool

    def __contains__(self, name: object) -> bool:
        return name in self.shown

    def options(self) -> list[tuple[str, str, bool]]:
        """(name, label, shown) for each column, for the picker's checkboxes."""
        return [(name, label, name in self.shown) for name, label in COLUMNS.items()]


def clean(names: Iterable[Any]) -> list[str]:
    """The known column names among `names`, in the table's order; unknown ones are dropped."""
    given = {n for n in names if isinstance(n, str)}
    return [name for name in COLUMNS if name in given]


def choice_of(stored: Any) -> ColumnChoice:
    """The columns to show for a stored choice; none (or nothing known) means the default."""
    names = clean(stored) if isinstance(stored, list) else []
    if not names:
        return ColumnChoice(frozenset(DEFAULT), default=True)
    return ColumnChoice(frozenset(names), default=False)


def roster_columns(session: Session, organiser_id: int) -> ColumnChoice:
    """The roster columns this organiser chose to see."""
    organiser = session.get(Organiser, organiser_id)
    return choice_of(organiser.roster_columns if organiser is not None else None)


def column_picker(session: Session, organiser_id: int, slug: str) -> tuple[Event, ColumnChoice]:
    """The event whose roster the picker returns to, and the organiser's choice now."""
    return event_by_slug(session, slug), roster_columns(session, organiser_id)


def choose_roster_columns(session: Session, organiser_id: int, names: Iterable[Any]) -> ColumnChoice:
    """Keep this organiser's choice of columns; an empty one goes back to the default."""
    organiser = session.get_one(Organiser, organiser_id)
    kept = clean(names)
    organiser.roster_columns = kept or None
    session.flush()
    return choice_of(kept)

"""The audit log: writing one entry per change (an organiser's, a participant's through their
manage link, or the portal's own when another change frees a seat), and reading the trails."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import AuditActor, AuditEntry, Organiser, OrganiserRole, Registration
from portal.templating import localtime


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in organiser, or None for the command line."""

    id: int
    email: str
    name: str
    is_admin: bool
    # What a signed-in organiser who is not an admin may see (web/backoffice/access.py); the
    # defaults are an organiser's, who sees everything but the accounts.
    role: OrganiserRole = OrganiserRole.ORGANISER
    # A programme manager's programmes: they see these programmes' events and nothing else.
    programme_ids: frozenset[int] = frozenset()

    @property
    def label(self) -> str:
        return self.name or self.email

    @property
    def is_door(self) -> bool:
        return not self.is_admin and self.role == OrganiserRole.DOOR

    @property
    def is_programme_manager(self) -> bool:
        return not self.is_admin and self.role == OrganiserRole.PROGRAMME_MANAGER

    def sees_programme(self, programme_id: int | None) -> bool:
        """Whether this organiser may see what belongs to the programme (None: no programme).
        Programme managers see their own programmes only; everyone else sees all."""
        if not self.is_programme_manager:
            return True
        return programme_id is not None and programme_id in self.programme_ids


def plain(value: Any) -> Any:
    """A value as the audit log keeps it: JSON-safe, times as ISO 8601 in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    event_id: int | None = None,
    registration_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    now: datetime | None = None,
    by: AuditActor | None = None,
) -> AuditEntry:
    """Add one entry to the log, in the caller's transaction. `by` says who acted when it was
    not an organiser: by default the signed-in `actor`, or the command line without one."""
    if by is None:
        by = AuditActor.ORGANISER if actor else AuditActor.COMMAND_LINE
    entry = AuditEntry(
        actor=by,
        organiser_id=actor.id if actor and by == AuditActor.ORGANISER else None,
        event_id=event_id,
        registration_id=registration_id,
        action=action,
        before=plain(before or {}),
        after=plain(after or {}),
        created_at=now or utcnow(),
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class TrailEntry:
    id: int
    created_at: datetime
    action: str
    who: str
    registration_id: int | None
    registration_name: str | None
    changes: list[tuple[str, str | None, str]]  # (field, before, after), in words; see _changes


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _shown(value: Any, tz: str) -> str:
    """A logged value in words: times in the zone `tz`, nothing as a dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and _ISO_TIME.match(value):
        try:
            return localtime(datetime.fromisoformat(value), tz, "%-d %b %Y, %H:%M")
        except ValueError:
            return value
    if isinstance(value, list):
        return ", ".join(_shown(v, tz) for v in value) or "—"
    return str(value)


def _changes(before: dict[str, Any], after: dict[str, Any], tz: str) -> list[tuple[str, str | None, str]]:
    """(field, before, after) in words; before is None for a note that only the after side
    carries (such as a promotion's reason), which is shown without an arrow."""
    # A nonce only tells a confirmation from its repeat (actions.act_on_registrations): no words.
    keys = [k for k in dict.fromkeys([*before, *after]) if k != "nonce"]
    return [(k.replace("_", " "), _shown(before.get(k), tz) if k in before else None, _shown(after.get(k), tz)) for k in keys]


# Who made an entry that names no organiser, in words.
_WHO = {
    AuditActor.ORGANISER: "an organiser",  # whose account is gone: accounts are deactivated, not deleted
    AuditActor.COMMAND_LINE: "command line",
    AuditActor.PARTICIPANT: "the participant",
    AuditActor.PORTAL: "the portal (automatic)",
}


def _trail(session: Session, condition: Any, *, before_id: int | None, limit: int, tz: str) -> list[TrailEntry]:
    query = (
        select(AuditEntry, Organiser.name, Organiser.email, Registration.name)
        .outerjoin(Organiser, AuditEntry.organiser_id == Organiser.id)
        .outerjoin(Registration, AuditEntry.registration_id == Registration.id)
        .where(condition)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return [
        TrailEntry(
            id=entry.id,
            created_at=entry.created_at,
            action=entry.action,
            who=(name or email) if (name or email) else _WHO[entry.actor],
            registration_id=entry.registration_id,
            registration_name=registration_name,
            changes=_changes(entry.before or {}, entry.after or {}, tz),
        )
        for entry, name, email, registration_name in session.execute(query)
    ]


def event_trail(session: Session, event_id: int, tz: str, *, before_id: int | None = None, limit: int = 50) -> list[TrailEntry]:
    """Newest first: every change to the event and to its registrations; times in `tz`."""
    return _trail(session, AuditEntry.event_id == event_id, before_id=before_id, limit=limit, tz=tz)


def registration_trail(session: Session, registration_id: int, tz: str, *, limit: int = 200) -> list[TrailEntry]:
    """Newest first: every change made to one registration, by anyone; times in `tz`."""
    return _trail(session, AuditEntry.registration_id == registration_id, before_id=None, limit=limit, tz=tz)


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(old, new): the values of the keys whose value changed, before and after."""
    changed = [k for k in before if before[k] != after[k]]
    return {k: before[k] for k in changed}, {k: after[k] for k in changed}

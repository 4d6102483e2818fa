"""Removing a registration's personal data while keeping what the statistics need.

What goes: name, email, organisation, every answer but the choice questions' (plain answers
to choice, multiple-choice and yes/no questions stay, with nobody's name on them), the sealed
answers, uploads (rows here; the caller deletes the files after the commit, and
uploads.sweep_orphans catches any left), organisers' notes, the manage and door tokens, the
messages in the outbox to or about them, and the values (not the keys) of the audit log's
entries on the registration. What stays: event, status, dates, check-ins, session choices,
choice picks (counted places), certificates (they keep only what they show, and verify).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import AuditEntry, LimitScope, MessageStatus, OutboxMessage, RateLimit, Registration, RegistrationNote, Upload
from portal.questions.schema import CONDITION_TYPES, FormDefinition

ANONYMISED_NAME = "(anonymised)"
REMOVED = "(removed)"
# Audit fields that never hold personal data: what changed, not who or what they wrote.
_NEUTRAL = frozenset({
    "status", "nonce", "reason", "checked_in", "checked_in_at", "confirmed_at", "cancelled_at", "waitlisted_at", "endorsement",
    "count", "note_added", "session", "sessions", "day", "door", "waiting", "code", "days_attended", "certificate", "again",
    "attempts", "through", "kept", "anonymised", "question", "bytes", "rows", "format", "sensitive", "layout", "event_session",
    "complete",
})


def anonymised_email(registration_id: int) -> str:
    """An address that is nobody's and unique per registration (the one-active-registration
    index holds on email), in the .invalid domain that never delivers."""
    return f"anonymised-{registration_id}@anonymised.invalid"


# Entries whose keys are the participant's own fields and answers (a question's key may be any
# word, "reason" or "day" too): every value goes, whatever its key.
_PERSONAL_ACTIONS = frozenset({"registration.update", "registration.edit"})


def _scrub(values: dict[str, Any], *, everything: bool = False) -> dict[str, Any]:
    return {k: (v if k in _NEUTRAL and not everything else REMOVED) for k, v in (values or {}).items()}


@dataclass(frozen=True)
class Anonymised:
    registration_id: int
    stored_files: tuple[str, ...]  # to delete once the transaction has committed


def anonymise(
    session: Session, registration: Registration, definition: FormDefinition, *, now: datetime | None = None, kept_reason: str = ""
) -> Anonymised:
    """Remove the registration's personal data in the caller's transaction (idempotent: a
    second call finds nothing to remove). Seats and statuses are the caller's business."""
    stored = anonymise_all(session, [(registration, definition)], now=now, kept_reason=kept_reason)
    return Anonymised(registration.id, stored)


def anonymise_all(
    session: Session, items: Sequence[tuple[Registration, FormDefinition]], *, now: datetime | None = None, kept_reason: str = "",
) -> tuple[str, ...]:
    """`anonymise` for many registrations at once (a retention batch): a statement per table
    for all of them rather than one per registration, so that a batch holds the write lock
    for a fraction of the time. Returns the stored files to delete after the commit."""
    now = now or utcnow()
    if not items:
        return ()
    ids = [registration.id for registration, _ in items]
    emails = [registration.email for registration, _ in items]
    for registration, definition in items:
        keep = {q.key for q in definition.questions if q.asks and q.type in CONDITION_TYPES and not q.sensitive}
        registration.name = ANONYMISED_NAME
        registration.email = anonymised_email(registration.id)
        registration.organisation = ""
        registration.answers = {k: v for k, v in (registration.answers or {}).items() if k in keep}
        registration.sealed_answers = None
        registration.token = secrets.token_urlsafe(32)
        registration.endorsement_token = None
        registration.checkin_code = None
        registration.anonymised_at = registration.anonymised_at or now
        registration.kept_reason = kept_reason
        registration.updated_at = now
    stored = tuple(session.scalars(select(Upload.stored_name).where(Upload.registration_id.in_(ids))))
    session.execute(delete(Upload).where(Upload.registration_id.in_(ids)).execution_options(synchronize_session=False))
    session.execute(delete(RegistrationNote).where(RegistrationNote.registration_id.in_(ids)).execution_options(synchronize_session=False))
    # Their own messages, and the copies of sent ones that name no registration (a lost-link
    # email) to their addresses; a queued one of those may be about another registration.
    session.execute(delete(OutboxMessage).where(or_(
        OutboxMessage.registration_id.in_(ids),
        and_(OutboxMessage.registration_id.is_(None), OutboxMessage.to_address.in_(emails), OutboxMessage.status != MessageStatus.QUEUED),
    )).execution_options(synchronize_session=False))
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.registration_id.in_(ids))):
        everything = entry.action in _PERSONAL_ACTIONS
        scrubbed_before, scrubbed_after = _scrub(entry.before, everything=everything), _scrub(entry.after, everything=everything)
        if scrubbed_before != entry.before or scrubbed_after != entry.after:
            entry.before, entry.after = scrubbed_before, scrubbed_after
    session.flush()
    return stored


def forget_limits(session: Session, email: str, scopes: tuple[LimitScope, ...] = (
    LimitScope.REGISTER_EMAIL, LimitScope.SUBSCRIBE_EMAIL, LimitScope.LOST_LINK_EMAIL,
)) -> None:
    """Delete the rate-limit counts kept under an address (they would otherwise keep it until
    their window is pruned)."""
    session.execute(delete(RateLimit).where(RateLimit.key == email, RateLimit.scope.in_(scopes)).execution_options(synchronize_session=False))

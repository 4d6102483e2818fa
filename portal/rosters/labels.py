"""The last known label of an answer's key that the event's form no longer has, so that a
roster's detail and exports show such answers under words, not under `billing_contact`.

Answers are kept by key, and a key leaves the form when a question is deleted, when the event
is given its own form in place of its programme's, or when the answers predate the forms
(migration 0009 wrote the questions the portal used to ask into the forms of the programmes
it knew; a programme made later has none). Where the label is looked for, in order:
1. the other forms the event's registrants may have filled in: its own, its programme's, the
   site's default;
2. the forms' changes the audit log keeps (each question's key, type and label), newest first;
3. the questions the portal asked before forms could be edited (LEGACY).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Event, Questionnaire
from portal.questions.store import definition

# The labels of the questions in portal/forms/registration.py at migration 0008, as 0009
# copied them into the programmes' forms.
LEGACY = {
    "position": "Position or job title",
    "nominating_authority": "Nominating authority",
    "nominator_email": "Nominating officer's email",
    "rank": "Rank",
    "service": "Service or agency",
    "country": "Country",
    "statement": "Statement of purpose",
    "billing_contact": "Billing contact name",
    "billing_email": "Billing contact email",
}

# One question in the audit log's summary of a form (store._summary): "key (type[, retired]): label".
_SUMMARY_LINE = re.compile(r"^(?P<key>[A-Za-z0-9_]+) \([^)]*\): (?P<label>.+)$")


def _from_forms(session: Session, event: Event) -> list[dict[str, str]]:
    """key -> label of each form in the event's chain, its own first."""
    mine = [Questionnaire.event_id == event.id, and_(Questionnaire.programme_id.is_(None), Questionnaire.event_id.is_(None))]
    if event.programme_id is not None:
        mine.append(and_(Questionnaire.programme_id == event.programme_id, Questionnaire.event_id.is_(None)))
    rows = sorted(session.scalars(select(Questionnaire).where(or_(*mine))), key=lambda r: (r.event_id is None, r.programme_id is None))
    return [{q.key: q.label for q in definition(row).questions if q.asks} for row in rows]


def _concerns(summary: Any, event: Event) -> bool:
    if not isinstance(summary, dict):
        return False
    whose = summary.get("form")
    if whose == "programme":
        return event.programme_id is not None and summary.get("programme_id") == event.programme_id
    return whose in ("event", "default")


def _from_audit(session: Session, event: Event, wanted: set[str]) -> dict[str, str]:
    """key -> the newest label the forms' audit entries give it."""
    found: dict[str, str] = {}
    # Form entries name the event for its own form, and no event for a programme's or the default.
    entries = session.execute(
        select(AuditEntry.after, AuditEntry.before)
        .where(AuditEntry.action.like("form.%"), or_(AuditEntry.event_id == event.id, AuditEntry.event_id.is_(None)))
        .order_by(AuditEntry.id.desc())
    )
    for after, before in entries:
        for summary in (after, before):
            if not _concerns(summary, event):
                continue
            for line in summary.get("questions") or []:
                match = _SUMMARY_LINE.match(line) if isinstance(line, str) else None
                if match and match["key"] in wanted and match["key"] not in found:
                    found[match["key"]] = match["label"].strip()
        if wanted <= found.keys():
            break
    return found


def earlier_labels(session: Session, event: Event, keys: Iterable[str]) -> dict[str, str]:
    """The last known label of each of `keys` (those the event's form has not); a key with no
    known label is left out."""
    wanted = set(keys)
    if not wanted:
        return {}
    found: dict[str, str] = {}
    for labels in _from_forms(session, event):
        found.update({k: v for k, v in labels.items() if k in wanted and k not in found})
    missing = wanted - found.keys()
    if missing:
        found.update(_from_audit(session, event, missing))
    found.update({k: LEGACY[k] for k in wanted - found.keys() if k in LEGACY})
    return found

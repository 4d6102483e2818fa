"""The demo: programmes and events that show every state of the portal, and registration forms
(demo.json's `form`s, read like any import file's) that keep the questions migration 0009
wrote and show every type of question. Loading is idempotent."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from portal.catalogue.imports import ImportReport, import_data
from portal.db import utcnow
from portal.demo import timetable
from portal.models import Event, Programme, Registration, RegistrationStatus
from portal.questions.schema import CONDITION_TYPES, FormDefinition
from portal.questions.store import definition_for_event
from portal.registrations.participants import new_token
from portal.registrations.retention import Run, run_batch
from portal.registrations.tickets import new_code
from portal.text import Period

DEMO_FILE = Path(__file__).with_name("demo.json")
DEFAULT_RETENTION = Period(months=24)

_FIRST = ["Aisha", "Budi", "Chen", "Dewi", "Eko", "Farah", "Grace", "Hiroshi", "Indra", "Jun", "Kavya", "Lina", "Minh", "Nadia", "Omar", "Priya"]
_LAST = ["Rahman", "Santoso", "Wei", "Lestari", "Nguyen", "Tan", "Lim", "Sato", "Kumar", "Park", "Reyes", "Ong"]
_ORGS = ["Ministry of Foreign Affairs", "Ministry of Defence", "National University", "Embassy of Japan", "Maritime Institute", "Policy Research Centre"]


def _choice_answers(definition: FormDefinition, i: int) -> dict[str, Any]:
    """A placeholder's answers to the form's plain choice questions, varied by `i`, so that the
    roster's counts (and an anonymised run's, which keeps them) show something. Questions
    whose choices have places are left out: their places are held only by real registrations."""
    answers: dict[str, Any] = {}
    for question in definition.live():
        if question.type not in CONDITION_TYPES or question.sensitive or question.has_places or question.show_if:
            continue
        values = [option.value for option in question.options()]
        if not values:
            continue
        if question.type == "multichoice":
            answers[question.key] = sorted({values[i % len(values)], values[(i * 7 + 3) % len(values)]})
        else:
            answers[question.key] = values[(i * 5 + i // 3) % len(values)]
    return answers


def has_data(session: Session) -> bool:
    return session.scalar(select(Event.id).limit(1)) is not None or session.scalar(select(Programme.id).limit(1)) is not None


def load(session: Session, *, default_timezone: str = "Asia/Singapore", retention: Period = DEFAULT_RETENTION) -> tuple[ImportReport, int]:
    """Load the demo file, then top up each event's placeholder registrations to its target,
    then anonymise what is past its retention (TATC keeps registrations six months, so its
    March 2026 run shows as anonymised, as the worker would leave it)."""
    data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    targets = {e["slug"]: int(e.get("demo_registrations") or 0) for e in data["events"]}
    for e in data["events"]:
        e.pop("demo_registrations", None)
    timetable.add_to(data)
    report = import_data(session, data, default_timezone=default_timezone)

    added = 0
    events = session.scalars(select(Event).where(Event.slug.in_([s for s, n in targets.items() if n]))).all()
    for event in events:
        definition = definition_for_event(session, event)
        have = session.scalar(
            select(func.count()).select_from(Registration).where(
                # Placeholders anonymised by an earlier load count too: loading stays idempotent.
                Registration.event_id == event.id,
                or_(Registration.email.like("%@demo.example.org"), Registration.anonymised_at.is_not(None)),
            )
        ) or 0
        for i in range(have, targets[event.slug]):
            added += 1
            first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
            when = min(utcnow(), event.starts_at) - timedelta(days=30) + timedelta(minutes=37 * i)
            session.add(
                Registration(
                    event_id=event.id,
                    email=f"participant{i + 1}.{event.id}@demo.example.org",
                    name=f"{first} {last}",
                    organisation=_ORGS[i % len(_ORGS)],
                    answers=_choice_answers(definition, i),
                    status=RegistrationStatus.CONFIRMED,
                    token=new_token(),
                    checkin_code=new_code(),
                    consented_at=when,
                    confirmed_at=when,
                    created_at=when,
                    updated_at=when,
                )
            )
    session.flush()
    # In this transaction, in batches until none is left; the placeholders have no files.
    run = Run()
    while (batch := run_batch(session, run, None, retention)).more:
        run = batch.run
    return report, added

"""An event whose form has sensitive questions, with registrations whose answers are kept as
the portal keeps them: the sensitive ones sealed (registrations.sealed.store_answers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from portal.models import Event, Registration
from portal.questions.schema import parse_form
from portal.registrations.sealed import store_answers

QUESTIONS = [
    {"key": "rank", "type": "text", "label": "Rank"},
    {"key": "passport", "type": "text", "label": "Passport number", "sensitive": True},
    {"key": "diet", "type": "text", "label": "Dietary or medical needs", "sensitive": True},
]
PASSPORT = "K1234567Q"
DIET = "Halal; allergic to peanuts"


@dataclass(frozen=True)
class SealedWorld:
    event: Event
    aisha: Registration  # answered every question
    ben: Registration  # answered the rank only


def sealed_world(make_event: Callable[..., Event], make_form: Callable[..., Any], make_registration: Callable[..., Registration],
                 run: Callable[..., Any], **event: Any) -> SealedWorld:
    found = make_event(**event)
    make_form(QUESTIONS, event=found)
    definition = parse_form(QUESTIONS)
    aisha = make_registration(found, name="Aisha Rahman", email="aisha@example.org")
    ben = make_registration(found, name="Ben Tan", email="ben@example.org")

    def answer(session: Session, registration_id: int, answers: dict[str, Any]) -> None:
        store_answers(session, session.get_one(Registration, registration_id), definition, answers)

    run(answer, aisha.id, {"rank": "Colonel", "passport": PASSPORT, "diet": DIET})
    run(answer, ben.id, {"rank": "Major"})
    return SealedWorld(found, aisha, ben)

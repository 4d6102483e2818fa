"""Name badges for an event: whose (the confirmed registrants by default, or a part of the
roster chosen as the roster page filters it), and what each shows. documents.badges draws them.

The role line is the country and the programme role, when the event's form asks for them: a
question of the country type, or one keyed `country` or `nationality`; a question keyed
`programme_role`, `role` or `rank` (a choice shown by its label). A badge's QR code is the
ticket's: only a confirmed registration has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from portal.documents.badges import Badge
from portal.errors import InvalidInput
from portal.models import Event, EventStatus, Registration, RegistrationStatus, event_by_slug
from portal.questions.schema import FormDefinition, Question
from portal.questions.store import definition_for_event
from portal.registrations.tickets import give_code, payload
from portal.rosters import search
from portal.rosters.answers import answer_filter, text_function

S = RegistrationStatus
ROLE_KEYS = ("programme_role", "role", "rank")
COUNTRY_KEYS = ("country", "nationality")
# The most badges one download draws: about six milliseconds each, so 2,000 keep a worker
# busy for some 12 s. The command line draws any number.
MAX_BADGES = 2000


@dataclass(frozen=True)
class BadgeSelection:
    """Whose badges: a status (None: every status), and the roster's search and answer filter."""

    status: RegistrationStatus | None = S.CONFIRMED
    q: str = ""
    question: str = ""
    answer: str = ""


@dataclass(frozen=True)
class EventBadges:
    slug: str
    badges: list[Badge]

    def filename(self, layout: str) -> str:
        return f"badges-{self.slug}{'' if layout == 'a4' else '-' + layout}.pdf"


def _first(definition: FormDefinition, wanted: Callable[[Question], bool]) -> Question | None:
    # Never a sensitive question's answer: a badge is worn in public.
    return next((q for q in definition.answer_questions() if not q.retired and not q.sensitive and wanted(q)), None)


def role_line(definition: FormDefinition) -> Callable[[dict[str, Any] | None], str]:
    """answers -> the badge's role line: the programme role and the country, as the form asks
    them ("Colonel · Singapore"); empty when it asks neither."""
    role = _first(definition, lambda q: q.key in ROLE_KEYS and q.type in ("text", "choice"))
    country = _first(definition, lambda q: q.type == "country") or _first(
        definition, lambda q: q.key in COUNTRY_KEYS and q.type in ("text", "choice")
    )
    asked = [(q.key, text_function(q)) for q in (role, country) if q is not None]

    def line(answers: dict[str, Any] | None) -> str:
        given = answers if isinstance(answers, dict) else {}
        parts = [text(given[key]).strip() for key, text in asked if isinstance(given.get(key), str)]
        return " · ".join(p for p in parts if p)

    return line


def _ticket(session: Session, event: Event, registration: Registration) -> str | None:
    if registration.status != S.CONFIRMED or event.status == EventStatus.CANCELLED:
        return None
    # Every confirmed registration has a code from its confirmation on; one made before the
    # codes, or placed directly, gets it here.
    return payload(give_code(registration, session=session))


class NoBadges(InvalidInput):
    """The selection picks no one: nothing to print."""


def event_badges(
    session: Session, slug: str, selection: BadgeSelection = BadgeSelection(), *, most: int | None = MAX_BADGES,
) -> EventBadges:
    """The badges of the event's registrations that `selection` picks, by name; InvalidInput
    when there are more than `most` (None: no limit). Gives a check-in code to a confirmed
    registration that has none (so run it in a writing transaction)."""
    event = event_by_slug(session, slug)
    definition = definition_for_event(session, event)
    _, _, answered = answer_filter(session, definition, selection.question, selection.answer)
    conditions: list[ColumnElement[bool]] = [Registration.event_id == event.id, *answered]
    if selection.status is not None:
        conditions.append(Registration.status == selection.status)
    if selection.q:
        conditions.append(search.matches(session, selection.q))
    rows = list(session.scalars(
        select(Registration).where(*conditions).order_by(Registration.name, Registration.id)
        .limit(most + 1 if most is not None else None)
    ))
    if not rows:
        whose = "confirmed registration" if selection.status == S.CONFIRMED and not (selection.q or answered) else "registration that matches"
        raise NoBadges(f"No one matches: no badges to print (the event has no {whose}).")
    if most is not None and len(rows) > most:
        raise InvalidInput(
            f"That is more than {most:,} badges for one download: choose part of the roster (a status, a search or an"
            " answer), or write them all with `portal export badges`."
        )
    role = role_line(definition)
    return EventBadges(event.slug, [
        Badge(r.name, r.organisation, role(r.answers), event.title, _ticket(session, event, r)) for r in rows
    ])

"""What the manage page shows, read in one unit of work: the registration as its owner sees
it, the form of its event (to ask the questions again), the places its choices have left,
the files it holds, and its ticket; and what the printable ticket shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import Admission, RegistrationStatus
from portal.questions.schema import FormDefinition
from portal.questions.store import definition, form_for_event
from portal.registrations import certificates, participants, sealed
from portal.registrations.availability import RegistrationState, registration_state
from portal.registrations.choices import SessionOption, can_change_sessions, session_options
from portal.registrations.participants import RegistrationView
from portal.registrations.seats import confirmed_count, places_taken
from portal.registrations.tickets import Ticket, ticket_of
from portal.registrations.uploads import files_of


@dataclass(frozen=True)
class ManagePage:
    view: RegistrationView
    form: FormDefinition
    # (form id, version): what a process keeps the form it built under; None with no form.
    form_key: tuple[int, int] | None
    places_taken: Mapping[tuple[str, str], int]
    files: Mapping[str, str]  # question key -> the file's name
    # Every answer, the sensitive ones opened: the page is the participant's own.
    answers: Mapping[str, Any] = field(default_factory=dict)
    # None until the registration is confirmed (and once it is not, or the event is cancelled).
    ticket: Ticket | None = None
    # The code of the registration's certificate of attendance, once issued and while valid.
    certificate: str | None = None
    # The conference sessions to choose (empty when the event has none), and why they cannot
    # change now (None when they can).
    sessions: list[SessionOption] = field(default_factory=list)
    sessions_fixed: str | None = None
    # Once the participant cancelled: where the event's registration stands now, so that the
    # page can offer to register again (None otherwise).
    register_again: RegistrationState | None = None
    # Why the details can no longer be corrected, in words (None while they can).
    details_fixed: str | None = None


def manage_page(session: Session, token: str, *, now: datetime | None = None) -> ManagePage:
    """The manage page's data for the holder of a registration's private link."""
    now = now or utcnow()
    view = participants.view_registration(session, token, now=now)
    row = form_for_event(session, view.event)
    again = None
    if view.registration.status == RegistrationStatus.CANCELLED:
        admission = view.programme.admission if view.programme else Admission.OPEN
        again = registration_state(view.event, confirmed_count(session, view.event.id), now, admission)
    form = definition(row)
    taken = places_taken(session, view.event.id) if any(q.has_places for q in form.live()) else {}
    answers = sealed.all_answers(session, view.registration)
    files = files_of(session, view.registration.id) if any(q.type == "file" for q in form.questions) else {}
    # A sealed file's row has a generic name; its real one is the (sealed) answer.
    files = {key: answers[key] if isinstance(answers.get(key), str) and answers[key] else name for key, name in files.items()}
    return ManagePage(
        view=view,
        form=form,
        form_key=(row.id, row.version) if row is not None else None,
        places_taken=taken,
        files=files,
        answers=answers,
        ticket=ticket_of(view.registration, view.event),
        certificate=certificates.live_code(session, view.registration.id),
        sessions=session_options(session, view.event.id, view.registration.id),
        sessions_fixed=can_change_sessions(view.event, view.registration, now),
        register_again=again,
        details_fixed=participants.details_fixed(view.registration, view.event, now),
    )


@dataclass(frozen=True)
class TicketPage:
    view: RegistrationView
    ticket: Ticket | None  # None: the registration has no ticket, and the page says why


def ticket_page(session: Session, token: str, *, now: datetime | None = None) -> TicketPage:
    """The printable ticket's data for the holder of a registration's private link."""
    view = participants.view_registration(session, token, now=now)
    return TicketPage(view=view, ticket=ticket_of(view.registration, view.event))

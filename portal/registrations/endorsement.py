"""A nomination that the nominating authority confirms: when a form has a nominator question
(the nominating officer's email), registering sends that officer a private link to endorse
or decline the nomination, once. The organisers see the answer and still decide either way;
the participant is told the outcome.

The link works until the event ends (or is cancelled). The officer is nobody the portal
knows, so the audit log records the answer as the portal's, noting the private link.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.db import utcnow
from portal.errors import InvalidTransition, NotFound, PortalError
from portal.mail.messages import queue_endorsement_request, queue_registration_message
from portal.models import AuditActor, Endorsement, Event, EventStatus, Programme, Registration, RegistrationStatus
from portal.questions.schema import FormDefinition, shown
from portal.site import Site
from portal.templating import local_date
from portal.text import normalise_email

# The answer that names the ministry, service or embassy nominating the participant, shown
# to the officer when the form asks it (the key the nomination questions have had since 0009).
AUTHORITY_KEY = "nominating_authority"
_UNKNOWN = "This endorsement link is not valid. Check that you copied all of it from the email."


class LinkExpired(PortalError):
    """An endorsement link whose event has ended or been cancelled."""

    status_code = 410
    title = "This link has expired"


def officer_email(definition: FormDefinition, answers: dict[str, Any]) -> str | None:
    """The nominating officer's address the registrant gave, when the form asks for one and
    the question is shown; None otherwise (then nobody is asked to endorse)."""
    question = definition.nominator()
    if question is None or not shown(question, answers):
        return None
    given = answers.get(question.key)
    if not isinstance(given, str) or not given.strip():
        return None
    return normalise_email(given)


def authority_of(registration: Registration) -> str:
    given = (registration.answers or {}).get(AUTHORITY_KEY)
    return given.strip() if isinstance(given, str) else ""


def ask(
    session: Session, site: Site, registration: Registration, event: Event, programme: Programme | None, officer: str
) -> None:
    """Queue the officer's request for a registration made with endorsement AWAITING and its
    endorsement_token set (register() sets both before the row is written)."""
    queue_endorsement_request(session, site, registration, event, programme, officer, authority_of(registration))


def endorsement_label(registration: Registration, tz: str | None = None) -> str:
    """The endorsement in words for a roster: '' when nobody was asked; with the date of the
    answer in the zone `tz` when given ('Endorsed 3 Mar 2027')."""
    return endorsement_words(registration.endorsement, registration.endorsement_at, tz)


def endorsement_words(state: Endorsement | None, at: datetime | None, tz: str | None = None) -> str:
    """endorsement_label from the two columns alone (an export reads rows, not objects)."""
    if state is None:
        return ""
    if state == Endorsement.AWAITING:
        return "Awaiting endorsement"
    words = "Endorsed" if state == Endorsement.ENDORSED else "Endorsement declined"
    if tz and at is not None:
        return f"{words} {local_date(at, tz)}"
    return words


def _find(session: Session, token: str, *, lock: bool = False) -> Registration:
    if not token or len(token) > 64 or "\x00" in token:
        raise NotFound(_UNKNOWN)
    query = select(Registration).where(Registration.endorsement_token == token)
    if lock:
        query = query.with_for_update()
    registration = session.scalar(query)
    # The lookup uses the index; the constant-time comparison guards the equality itself.
    if registration is None or not hmac.compare_digest(registration.endorsement_token or "", token):
        raise NotFound(_UNKNOWN)
    return registration


def _event(session: Session, registration: Registration, now: datetime) -> tuple[Event, Programme | None]:
    row = session.execute(
        select(Event, Programme).outerjoin(Programme, Event.programme_id == Programme.id).where(Event.id == registration.event_id)
    ).one()
    event, programme = row[0], row[1]
    if event.status == EventStatus.CANCELLED:
        raise LinkExpired(f"This endorsement link has expired: the organisers cancelled {event.title}.")
    if now >= event.ends_at:
        raise LinkExpired(f"This endorsement link expired when {event.title} ended. Contact the organisers if something is still needed.")
    return event, programme


def _why_not(registration: Registration) -> str | None:
    """Why the nomination can no longer be answered, if it cannot."""
    if registration.status == RegistrationStatus.CANCELLED:
        return "The participant has cancelled this registration, so there is nothing to endorse."
    if registration.status == RegistrationStatus.REJECTED:
        return "The organisers have already decided on this registration, so there is nothing to endorse."
    return None


@dataclass(frozen=True)
class EndorsementView:
    """What the officer's page shows."""

    registration: Registration
    event: Event
    programme: Programme | None
    authority: str
    state: Endorsement | None
    answered_at: datetime | None
    problem: str | None

    @property
    def can_answer(self) -> bool:
        return self.state == Endorsement.AWAITING and self.problem is None


def view_endorsement(session: Session, token: str, *, now: datetime | None = None) -> EndorsementView:
    """The nomination a private link opens; NotFound or LinkExpired when it opens none."""
    registration = _find(session, token)
    event, programme = _event(session, registration, now or utcnow())
    return EndorsementView(
        registration=registration,
        event=event,
        programme=programme,
        authority=authority_of(registration),
        state=registration.endorsement,
        answered_at=registration.endorsement_at,
        problem=_why_not(registration) if registration.endorsement == Endorsement.AWAITING else None,
    )


def answer(session: Session, site: Site, token: str, endorse: bool, *, now: datetime | None = None) -> bool:
    """Record the officer's answer, log it and tell the participant. True when this call
    recorded it; False when it was answered already (a second answer changes nothing)."""
    now = now or utcnow()
    registration = _find(session, token, lock=True)
    event, _programme = _event(session, registration, now)
    if registration.endorsement != Endorsement.AWAITING:
        return False
    problem = _why_not(registration)
    if problem:
        raise InvalidTransition(problem)
    outcome = Endorsement.ENDORSED if endorse else Endorsement.DECLINED
    registration.endorsement = outcome
    registration.endorsement_at = now
    session.flush()
    audit.record(
        session, None, "registration.endorse", event_id=event.id, registration_id=registration.id,
        before={"endorsement": Endorsement.AWAITING},
        after={"endorsement": outcome, "through": "the nominating officer's private link"},
        now=now, by=AuditActor.PORTAL,
    )
    kind = "nomination_endorsed" if endorse else "nomination_declined"
    queue_registration_message(session, site, kind, registration, event, authority=authority_of(registration))
    return True

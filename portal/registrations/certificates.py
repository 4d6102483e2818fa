"""Certificates of attendance: who has earned one, issuing them, reissuing one with a corrected
name, revoking one, and verifying a code.

Who is eligible: a confirmed registration whose check-ins meet the event's rule
(checkins.meets_rule), once the event's last day has begun in its own zone, so that
certificates can be handed out at a closing session. A certificate records the days attended
when it was issued; a check-in made later on the last day is on a certificate reissued after
it. A cancelled event issues none.

A certificate keeps exactly what it shows (Certificate.shows): the public page and the PDF
read it and nothing else, so reissuing, editing the event or anonymising the registration
never changes what an issued certificate says. Its code is 12 characters of Crockford's base
32 from `secrets` (60 bits: not guessable, and the public page is throttled besides).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.documents import codes
from portal.errors import InvalidInput, InvalidTransition, NotFound
from portal.models import Certificate, CheckIn, Event, EventStatus, LimitScope, Programme, Registration, RegistrationStatus
from portal.models.lookups import event_by_slug
from portal.registrations import checkins
from portal.registrations.limits import TooManyRequests, hit
from portal.registrations.participants import find_by_token
from portal.templating import local_date

ALPHABET = codes.ALPHABET
CODE_LENGTH = 12
# Verifications one client address may ask for in a minute: a person checks a few
# certificates; a script walking codes is stopped.
VERIFY_PER_MINUTE = 30
REPLACED = "replaced by a corrected certificate"
MAX_NAME = 200
MAX_REASON = 300


def new_code() -> str:
    """A fresh verification code."""
    return codes.new(CODE_LENGTH)


def normalise_code(text: str) -> str | None:
    """A code as typed (any case, with spaces or hyphens, I or L for 1, O for 0) as stored, or
    None if it cannot be one."""
    return codes.normalise(text, CODE_LENGTH, dots=True)


def display_code(code: str) -> str:
    """A code as people read it: 7K3Q-X2M4-9DAB."""
    return codes.grouped(code, 4)


# --- who has earned one ----------------------------------------------------------------------


def opens_at(event: Event) -> datetime:
    """When certificates may be issued: the start of the event's last day, in its zone."""
    zone = ZoneInfo(event.timezone)
    last = checkins.event_days(event)[-1]
    return datetime(last.year, last.month, last.day, tzinfo=zone)


def _check_ready(event: Event, now: datetime) -> None:
    if event.status == EventStatus.CANCELLED:
        raise InvalidTransition("The event is cancelled: it issues no certificates.")
    if now < opens_at(event):
        raise InvalidTransition("Certificates can be issued from the event's last day, once attendance is known.")


@dataclass(frozen=True)
class Candidate:
    """A confirmed registration that met the event's rule, and what it already holds."""

    registration_id: int
    name: str
    days: list[date]
    live: bool  # holds a certificate that is not revoked
    revoked: bool  # held one that was revoked, and holds none now


def candidates(session: Session, event: Event) -> list[Candidate]:
    """Every confirmed registration of `event` whose check-ins meet its rule, by name."""
    rows = session.execute(
        select(Registration.id, Registration.name)
        .where(Registration.event_id == event.id, Registration.status == RegistrationStatus.CONFIRMED)
        .where(Registration.id.in_(select(CheckIn.registration_id).where(CheckIn.event_id == event.id)))
        .order_by(Registration.name, Registration.id)
    ).all()
    attended = checkins.days_attended(session, [r.id for r in rows])
    held: dict[int, bool] = {}
    for registration_id, revoked_at in session.execute(
        select(Certificate.registration_id, Certificate.revoked_at).where(Certificate.event_id == event.id)
    ):
        held[registration_id] = held.get(registration_id, False) or revoked_at is None
    days = set(checkins.event_days(event))
    return [
        Candidate(r.id, r.name, sorted(attended[r.id] & days), held.get(r.id, False), r.id in held and not held[r.id])
        for r in rows
        if checkins.meets_rule(event, attended[r.id])
    ]


def _to_issue(session: Session, event: Event, registration_ids: Iterable[int] | None) -> list[Candidate]:
    """Who `issue` gives a certificate to: without ids, every candidate that never had one (a
    revoked certificate is not issued again unasked); with ids, those of them that hold no
    live certificate."""
    found = candidates(session, event)
    if registration_ids is None:
        return [c for c in found if not c.live and not c.revoked]
    chosen = set(registration_ids)
    return [c for c in found if c.registration_id in chosen and not c.live]


# --- what a certificate shows ----------------------------------------------------------------

_DAY = "%a %-d %b %Y"


def _dates(days: list[date]) -> str:
    first, last = days[0], days[-1]
    if first == last:
        return first.strftime(_DAY)
    if first.year != last.year:
        return f"{first.strftime(_DAY)} – {last.strftime(_DAY)}"
    return f"{first.strftime('%a %-d %b')} – {last.strftime(_DAY)}"


def _shows(session: Session, event: Event, name: str, attended: list[date], issuer: str) -> dict[str, object]:
    programme = session.get(Programme, event.programme_id) if event.programme_id else None
    days = checkins.event_days(event)
    return {
        "name": name,
        "event": event.title,
        "programme": programme.name if programme else "",
        "dates": _dates(days),
        "days_attended": [d.strftime(_DAY) for d in attended],
        "days": len(days),
        "issuer": issuer,
    }


def _unused_code(session: Session) -> str:
    while True:  # a repeat is a 1 in 2**60 event; looked for anyway, as the column is unique
        code = new_code()
        if session.scalar(select(Certificate.id).where(Certificate.code == code)) is None:
            return code


def _new(session: Session, actor: Actor | None, event: Event, registration_id: int, shows: dict[str, object], now: datetime) -> Certificate:
    # The date of issue is on the certificate, as on its public page.
    shows = {**shows, "issued_on": local_date(now, event.timezone)}
    certificate = Certificate(
        code=_unused_code(session), registration_id=registration_id, event_id=event.id, shows=shows,
        issued_at=now, issued_by=actor.id if actor else None,
    )
    session.add(certificate)
    session.flush()
    return certificate


# --- issuing, reissuing, revoking --------------------------------------------------------------


class CountChanged(InvalidTransition):
    """`issue` was confirmed for a number of people that is no longer the number eligible."""

    def __init__(self, count: int) -> None:
        super().__init__(f"The number of people to receive a certificate is now {count}. Check it and confirm again.")
        self.count = count


def issue(
    session: Session, actor: Actor | None, slug: str, registration_ids: Iterable[int] | None = None, *,
    issuer: str, expected: int | None = None, now: datetime | None = None,
) -> list[Certificate]:
    """Issue a certificate to every eligible registration of the event that never had one (or
    to the chosen ones that hold no live one); `expected`, when given, is the number the
    organiser confirmed. Returns the certificates issued."""
    now = now or utcnow()
    # Locked: two organisers issuing at once would otherwise give someone two certificates.
    event = event_by_slug(session, slug, lock=True)
    _check_ready(event, now)
    chosen = _to_issue(session, event, registration_ids)
    if expected is not None and expected != len(chosen):
        raise CountChanged(len(chosen))
    issued = []
    for candidate in chosen:
        certificate = _new(session, actor, event, candidate.registration_id, _shows(session, event, candidate.name, candidate.days, issuer), now)
        audit.record(
            session, actor, "certificate.issue", event_id=event.id, registration_id=candidate.registration_id,
            after={"certificate": certificate.id, "days_attended": len(candidate.days)}, now=now,
        )
        issued.append(certificate)
    return issued


def _locked_certificate(session: Session, certificate_id: int) -> Certificate:
    certificate = session.scalar(select(Certificate).where(Certificate.id == certificate_id).with_for_update())
    if certificate is None:
        raise NotFound("There is no such certificate.")
    return certificate


def _clean(text: str | None, limit: int, what: str) -> str:
    value = " ".join((text or "").split())
    if not value:
        raise InvalidInput(f"Write the {what}.")
    if len(value) > limit:
        raise InvalidInput(f"The {what} has at most {limit} characters.")
    return value


def _withdraw(session: Session, actor: Actor | None, certificate: Certificate, reason: str, now: datetime, replaced_by: int | None = None) -> None:
    if certificate.revoked_at is not None:
        raise InvalidTransition("This certificate was revoked already.")
    certificate.revoked_at = now
    certificate.revoked_reason = reason
    certificate.replaced_by = replaced_by
    after = {"certificate": certificate.id, "reason": reason, **({"replaced_by": replaced_by} if replaced_by else {})}
    audit.record(session, actor, "certificate.revoke", event_id=certificate.event_id, registration_id=certificate.registration_id, after=after, now=now)


def reissue(
    session: Session, actor: Actor | None, certificate_id: int, name: str | None = None, *, issuer: str, now: datetime | None = None,
) -> Certificate:
    """Replace a live certificate by a new one, with a new code: the name as given (a
    correction) or as the registration now has it, and the days attended as now recorded.
    The old one is revoked; what it showed stays as it was."""
    now = now or utcnow()
    old = _locked_certificate(session, certificate_id)
    if old.revoked_at is not None:
        raise InvalidTransition("This certificate was revoked: only a live certificate can be reissued.")
    event = session.get(Event, old.event_id) if old.event_id is not None else None
    registration = session.get(Registration, old.registration_id) if old.registration_id is not None else None
    if event is None or registration is None:
        raise InvalidTransition("The registration of this certificate is no longer kept, so it cannot be reissued.")
    new_name = _clean(name, MAX_NAME, "name") if name is not None else registration.name
    attended = sorted(checkins.days_attended(session, [registration.id])[registration.id] & set(checkins.event_days(event)))
    shows = _shows(session, event, new_name, attended, issuer)
    new = _new(session, actor, event, registration.id, shows, now)
    _withdraw(session, actor, old, REPLACED, now, replaced_by=new.id)
    after = {"certificate": new.id, "replaces": old.id, "days_attended": len(attended), "name_changed": new_name != old.shows.get("name")}
    audit.record(session, actor, "certificate.issue", event_id=event.id, registration_id=registration.id, after=after, now=now)
    return new


def revoke(session: Session, actor: Actor | None, certificate_id: int, reason: str, *, now: datetime | None = None) -> Certificate:
    """Revoke a live certificate: its page then says it is not valid. The reason is kept for
    the organisers and the audit log, never shown publicly."""
    certificate = _locked_certificate(session, certificate_id)
    _withdraw(session, actor, certificate, _clean(reason, MAX_REASON, "reason"), now or utcnow())
    return certificate


# --- verifying and downloading ---------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What the public page says about a code: 'genuine', 'revoked' or 'unknown'; what the
    certificate shows (genuine or revoked); when it was issued and revoked, and whether it was
    replaced by a corrected one."""

    code: str  # as people read it, or as typed when it is not a code
    state: str
    shows: dict[str, object]
    issued_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced: bool = False


def verify(session: Session, typed: str, address: str, *, limit: int | None = None, now: datetime | None = None) -> Verification:
    """Look up a code for the public page, counting the look-up against the client's address
    (TooManyRequests past `limit`, by default VERIFY_PER_MINUTE, a minute)."""
    wait = hit(session, LimitScope.VERIFY_IP, address, VERIFY_PER_MINUTE if limit is None else limit, now=now)
    if wait is not None:
        raise TooManyRequests(f"Many certificates have been checked from your network in the last minute. Please try again in {wait} seconds.", wait)
    code = normalise_code(typed)
    found = session.scalar(select(Certificate).where(Certificate.code == code)) if code else None
    if found is None:
        return Verification(display_code(code) if code else typed[:40], "unknown", {})
    state = "revoked" if found.revoked_at is not None else "genuine"
    return Verification(display_code(found.code), state, dict(found.shows), found.issued_at, found.revoked_at, found.replaced_by is not None)


@dataclass(frozen=True)
class CertificateFile:
    """What a certificate's PDF is made from, and the name of its file."""

    code: str
    shows: dict[str, object]

    @property
    def filename(self) -> str:
        name = unicodedata.normalize("NFKD", str(self.shows.get("name", ""))).encode("ascii", "ignore").decode()
        words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
        return f"certificate-{self.code}{'-' + words if words else ''}.pdf"


def _file(certificate: Certificate) -> CertificateFile:
    return CertificateFile(certificate.code, dict(certificate.shows))


def live_code(session: Session, registration_id: int) -> str | None:
    """The code of the registration's live certificate, if it holds one."""
    return session.scalar(
        select(Certificate.code).where(Certificate.registration_id == registration_id, Certificate.revoked_at.is_(None)).limit(1)
    )


def participant_file(session: Session, token: str) -> CertificateFile:
    """The live certificate of the registration a private link opens, or NotFound."""
    registration = find_by_token(session, token)
    certificate = session.scalar(
        select(Certificate).where(Certificate.registration_id == registration.id, Certificate.revoked_at.is_(None)).limit(1)
    )
    if certificate is None:
        raise NotFound("There is no certificate of attendance for this registration (yet): the organisers issue them after the event.")
    return _file(certificate)


def organiser_file(session: Session, certificate_id: int) -> CertificateFile:
    """A live certificate, for the organisers to download; a revoked one is not handed out."""
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound("There is no such certificate.")
    if certificate.revoked_at is not None:
        raise InvalidTransition("This certificate was revoked, so it is not handed out again.")
    return _file(certificate)


def event_files(session: Session, slug: str) -> list[CertificateFile]:
    """Every live certificate of an event, by name."""
    event = event_by_slug(session, slug)
    rows = session.scalars(select(Certificate).where(Certificate.event_id == event.id, Certificate.revoked_at.is_(None)).order_by(Certificate.id))
    return sorted((_file(c) for c in rows), key=lambda f: (str(f.shows.get("name", "")).casefold(), f.code))

"""The back office's view of an event's certificates of attendance: who holds one, who has
earned one and waits for it, and one certificate with what replaced it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.errors import NotFound
from portal.models import Certificate, Event, Organiser, event_by_slug
from portal.registrations import checkins
from portal.registrations.certificates import Candidate, candidates, display_code, opens_at


@dataclass(frozen=True)
class CertificateRow:
    id: int
    code: str  # as people read it
    registration_id: int | None
    shows: dict[str, object]
    issued_at: datetime
    revoked_at: datetime | None
    revoked_reason: str
    replaced_by: int | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None


def _row(certificate: Certificate) -> CertificateRow:
    return CertificateRow(
        certificate.id, display_code(certificate.code), certificate.registration_id, dict(certificate.shows),
        certificate.issued_at, certificate.revoked_at, certificate.revoked_reason, certificate.replaced_by,
    )


@dataclass(frozen=True)
class CertificatesPage:
    event: Event
    # From when certificates can be issued (the start of the last day), and whether it has come.
    opens_at: datetime
    ready: bool
    needed: int  # days a certificate takes, by the event's rule
    total: int  # days the event has
    certificates: list[CertificateRow]  # newest first
    waiting: list[Candidate]  # earned one, never had one: "issue all" gives them one
    revoked: list[Candidate]  # earned one, whose certificate was revoked: issued only one by one


def certificates_page(session: Session, slug: str, *, now: datetime | None = None) -> CertificatesPage:
    """An event's certificates and who has earned one without holding one."""
    event = event_by_slug(session, slug)
    rows = session.scalars(select(Certificate).where(Certificate.event_id == event.id).order_by(Certificate.id.desc()))
    found = candidates(session, event)
    start = opens_at(event)
    return CertificatesPage(
        event, start, (now or utcnow()) >= start, checkins.days_needed(event), len(checkins.event_days(event)),
        [_row(c) for c in rows],
        [c for c in found if not c.live and not c.revoked],
        [c for c in found if not c.live and c.revoked],
    )


@dataclass(frozen=True)
class CertificateDetail:
    event: Event | None
    certificate: CertificateRow
    issued_by: str  # the organiser's name or address; "" from the command line or gone
    replaced_by: CertificateRow | None
    replaces: CertificateRow | None


def certificate_detail(session: Session, certificate_id: int) -> CertificateDetail:
    """One certificate, with the one that replaced it and the one it replaced."""
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound("There is no such certificate.")
    event = session.get(Event, certificate.event_id) if certificate.event_id is not None else None
    who = session.get(Organiser, certificate.issued_by) if certificate.issued_by is not None else None
    newer = session.get(Certificate, certificate.replaced_by) if certificate.replaced_by is not None else None
    older = session.scalar(select(Certificate).where(Certificate.replaced_by == certificate.id).limit(1))
    return CertificateDetail(
        event, _row(certificate), (who.name or who.email) if who else "",
        _row(newer) if newer else None, _row(older) if older else None,
    )

"""The back office's programmes: create and edit them. A new admission rule applies to
registrations made from then on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import Actor, diff, record
from portal.db import utcnow
from portal.errors import AlreadyExists, InvalidInput
from portal.models import Admission, Programme, programme_by_code
from portal.text import SLUG


@dataclass(frozen=True)
class ProgrammeValues:
    name: str
    admission: Admission
    summary: str = ""
    description: str = ""
    # How long registrations are kept after each run ends (P24M); None: PORTAL_RETENTION.
    retention: str | None = None


def list_programmes(session: Session, programme_ids: frozenset[int] | None = None) -> list[Programme]:
    """Every programme, or only those of `programme_ids` when it is given (a programme manager's)."""
    query = select(Programme).order_by(Programme.name)
    if programme_ids is not None:
        query = query.where(Programme.id.in_(sorted(programme_ids)))
    return list(session.scalars(query))


def create_programme(session: Session, actor: Actor, code: str, values: ProgrammeValues, *, now: datetime | None = None) -> Programme:
    now = now or utcnow()
    if not SLUG.match(code) or len(code) > 40:
        raise InvalidInput("The code must be lowercase letters, digits and single hyphens, e.g. tatc.")
    if session.scalar(select(Programme.id).where(Programme.code == code)) is not None:
        raise AlreadyExists(f"A programme with the code {code!r} exists already.")
    programme = Programme(code=code, created_at=now, updated_at=now, **asdict(values))
    session.add(programme)
    session.flush()
    record(session, actor, "programme.create", after={"code": code, "name": values.name, "admission": values.admission}, now=now)
    return programme


def update_programme(session: Session, actor: Actor, code: str, values: ProgrammeValues, *, now: datetime | None = None) -> Programme:
    """Edit a programme. A new admission rule applies to registrations made from now on."""
    now = now or utcnow()
    programme = programme_by_code(session, code)
    before = {k: getattr(programme, k) for k in asdict(values)}
    for key, value in asdict(values).items():
        setattr(programme, key, value)
    old, new = diff(before, {k: getattr(programme, k) for k in before})
    if old:
        programme.updated_at = now
        record(session, actor, "programme.update", before={"code": code, **old}, after={"code": code, **new}, now=now)
    return programme

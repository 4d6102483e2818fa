"""Organiser accounts: adding them, their roles, deactivating them (admins only)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from portal.accounts.passwords import check_password_rules, hash_password
from portal.audit import Actor, record
from portal.db import utcnow
from portal.errors import AlreadyExists, InvalidInput, NotAllowed, NotFound
from portal.models import Organiser, OrganiserProgramme, OrganiserRole, Programme
from portal.text import normalise_email

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def new_session_key() -> str:
    return secrets.token_urlsafe(32)


# Each role in a line, for the organisers page and the command line's help.
ROLE_WORDS = {
    OrganiserRole.ORGANISER: "Organiser: every event and programme, but not organiser accounts.",
    OrganiserRole.PROGRAMME_MANAGER: "Programme manager: only the events of their programmes, and those programmes.",
    OrganiserRole.DOOR: "Door volunteer: the door pages only: names, organisations and status, never answers or emails.",
}


def programme_ids_of(session: Session, organiser_id: int) -> frozenset[int]:
    return frozenset(session.scalars(select(OrganiserProgramme.programme_id).where(OrganiserProgramme.organiser_id == organiser_id)))


def actor_of(organiser: Organiser) -> Actor:
    session = object_session(organiser)
    role = OrganiserRole(organiser.role or OrganiserRole.ORGANISER)
    programme_ids = (
        programme_ids_of(session, organiser.id)
        if session is not None and role == OrganiserRole.PROGRAMME_MANAGER and not organiser.is_admin
        else frozenset()
    )
    return Actor(
        id=organiser.id, email=organiser.email, name=organiser.name, is_admin=organiser.is_admin, role=role, programme_ids=programme_ids,
    )


def _role(role: OrganiserRole | str) -> OrganiserRole:
    try:
        return OrganiserRole(str(role).replace("-", "_"))
    except ValueError:
        raise InvalidInput(f"{role!r} is not a role: choose organiser, programme-manager or door.") from None


def _programmes(session: Session, role: OrganiserRole, codes: list[str]) -> list[Programme]:
    """The programmes with these codes, for a programme manager; refused for other roles, and
    refused for a programme manager without any (who would see nothing)."""
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if role != OrganiserRole.PROGRAMME_MANAGER:
        if codes:
            raise InvalidInput("Only programme managers have programmes: choose the role programme manager, or no programmes.")
        return []
    if not codes:
        raise InvalidInput("A programme manager needs at least one programme: they see only their programmes' events.")
    found = {p.code: p for p in session.scalars(select(Programme).where(Programme.code.in_(codes)))}
    if missing := [c for c in codes if c not in found]:
        raise InvalidInput(f"There is no programme with the code {missing[0]!r}.")
    return [found[c] for c in codes]


def _set_programmes(session: Session, organiser_id: int, programmes: list[Programme]) -> None:
    session.execute(delete(OrganiserProgramme).where(OrganiserProgramme.organiser_id == organiser_id))
    session.add_all(OrganiserProgramme(organiser_id=organiser_id, programme_id=p.id) for p in programmes)
    session.flush()


def add_organiser(
    session: Session,
    email: str,
    password: str,
    *,
    name: str = "",
    is_admin: bool = False,
    role: OrganiserRole | str = OrganiserRole.ORGANISER,
    programmes: list[str] | tuple[str, ...] = (),
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Actor:
    """Create an organiser account; the email address must be new. A programme manager
    needs the codes of their programmes; other roles have none."""
    now = now or utcnow()
    email = normalise_email(email)
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput(f"{email!r} is not a complete email address.")
    check_password_rules(password)
    role = _role(role)
    chosen = _programmes(session, role, list(programmes))
    if session.scalar(select(Organiser.id).where(Organiser.email == email)) is not None:
        raise AlreadyExists(f"There is already an organiser account for {email}.")
    organiser = Organiser(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        is_admin=is_admin,
        role=role,
        active=True,
        session_key=new_session_key(),
        created_at=now,
    )
    session.add(organiser)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AlreadyExists(f"There is already an organiser account for {email}.") from None
    _set_programmes(session, organiser.id, chosen)
    after = {"email": email, "name": organiser.name, "is_admin": is_admin, "role": role.value, "programmes": [p.code for p in chosen]}
    record(session, actor, "organiser.add", after=after, now=now)
    return actor_of(organiser)


def list_organisers(session: Session) -> list[Organiser]:
    return list(session.scalars(select(Organiser).order_by(Organiser.active.desc(), Organiser.email)))


def programmes_by_organiser(session: Session) -> dict[int, list[str]]:
    """Each programme manager's programmes' codes, by organiser id."""
    found: dict[int, list[str]] = {}
    rows = session.execute(
        select(OrganiserProgramme.organiser_id, Programme.code)
        .join(Programme, Programme.id == OrganiserProgramme.programme_id).order_by(Programme.code)
    )
    for organiser_id, code in rows:
        found.setdefault(organiser_id, []).append(code)
    return found


CHANGES = {
    "make_admin": ("is_admin", True),
    "remove_admin": ("is_admin", False),
    "deactivate": ("active", False),
    "reactivate": ("active", True),
}


def programme_codes_of(session: Session, organiser_id: int) -> list[str]:
    return list(session.scalars(
        select(Programme.code).join(OrganiserProgramme, OrganiserProgramme.programme_id == Programme.id)
        .where(OrganiserProgramme.organiser_id == organiser_id).order_by(Programme.code)
    ))


def update_organiser(
    session: Session, actor: Actor, organiser_id: int, change: str, *,
    role: OrganiserRole | str | None = None, programmes: list[str] | tuple[str, ...] = (),
) -> Organiser:
    """Give or take the admin role, deactivate or reactivate an account, or (change
    "set_role") give it a role and, for a programme manager, its programmes. Admins only."""
    if not actor.is_admin:
        raise NotAllowed("Only admins can change organiser accounts.")
    if change == "set_role":
        return _set_role(session, actor, organiser_id, _role(role or ""), list(programmes))
    if change not in CHANGES:
        raise InvalidInput("That is not a change the portal knows.")
    organiser = session.get(Organiser, organiser_id)
    if organiser is None:
        raise NotFound("There is no such organiser account.")
    if organiser.id == actor.id and change in ("remove_admin", "deactivate"):
        # Keeps at least one admin: the one acting. Another admin can do it if it must be done.
        raise NotAllowed("You cannot take away your own admin role or deactivate your own account; ask another admin.")
    column, value = CHANGES[change]
    before = getattr(organiser, column)
    if before != value:
        setattr(organiser, column, value)
        if change == "deactivate":
            organiser.session_key = new_session_key()
        record(session, actor, f"organiser.{change}", before={"email": organiser.email, column: before}, after={"email": organiser.email, column: value})
    return organiser


def _set_role(session: Session, actor: Actor, organiser_id: int, role: OrganiserRole, codes: list[str]) -> Organiser:
    organiser = session.get(Organiser, organiser_id)
    if organiser is None:
        raise NotFound("There is no such organiser account.")
    chosen = _programmes(session, role, codes)
    before = {"role": OrganiserRole(organiser.role).value, "programmes": programme_codes_of(session, organiser.id)}
    after = {"role": role.value, "programmes": sorted(p.code for p in chosen)}
    if before != after:
        organiser.role = role
        _set_programmes(session, organiser.id, chosen)
        record(session, actor, "organiser.set_role", before={"email": organiser.email, **before}, after={"email": organiser.email, **after})
    return organiser

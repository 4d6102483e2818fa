"""Organiser accounts: adding them, their roles, deactivating them (admins only)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.accounts.passwords import check_password_rules, hash_password
from portal.audit import Actor, record
from portal.db import utcnow
from portal.errors import AlreadyExists, InvalidInput, NotAllowed, NotFound
from portal.models import Organiser
from portal.text import normalise_email

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def new_session_key() -> str:
    return secrets.token_urlsafe(32)


def actor_of(organiser: Organiser) -> Actor:
    return Actor(id=organiser.id, email=organiser.email, name=organiser.name, is_admin=organiser.is_admin)


def add_organiser(
    session: Session,
    email: str,
    password: str,
    *,
    name: str = "",
    is_admin: bool = False,
    actor: Actor | None = None,
    now: datetime | None = None,
) -> Actor:
    """Create an organiser account; the email address must be new."""
    now = now or utcnow()
    email = normalise_email(email)
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput(f"{email!r} is not a complete email address.")
    check_password_rules(password)
    if session.scalar(select(Organiser.id).where(Organiser.email == email)) is not None:
        raise AlreadyExists(f"There is already an organiser account for {email}.")
    organiser = Organiser(
        email=email,
        name=name.strip(),
        password_hash=hash_password(password),
        is_admin=is_admin,
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
    record(session, actor, "organiser.add", after={"email": email, "name": organiser.name, "is_admin": is_admin}, now=now)
    return actor_of(organiser)


def list_organisers(session: Session) -> list[Organiser]:
    return list(session.scalars(select(Organiser).order_by(Organiser.active.desc(), Organiser.email)))


CHANGES = {
    "make_admin": ("is_admin", True),
    "remove_admin": ("is_admin", False),
    "deactivate": ("active", False),
    "reactivate": ("active", True),
}


def update_organiser(session: Session, actor: Actor, organiser_id: int, change: str) -> Organiser:
    """Give or take the admin role, deactivate or reactivate an account. Admins only."""
    if not actor.is_admin:
        raise NotAllowed("Only admins can change organiser accounts.")
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

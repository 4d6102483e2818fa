"""Organiser accounts, and the record of failed sign-ins that throttles guessing."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow
from portal.models.enums import enum_column


class OrganiserRole(enum.StrEnum):
    """What an organiser who is not an admin may see and do (web/backoffice/access.py)."""

    ORGANISER = "organiser"  # every event and programme
    PROGRAMME_MANAGER = "programme_manager"  # the programmes in organiser_programmes only
    DOOR = "door"  # the door: names, organisations and status, never answers or exports


class Organiser(Base):
    """Someone who runs events in the back office. Admins also manage organiser accounts."""

    __tablename__ = "organisers"
    shown_publicly = False

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lowercased: the sign-in form and the CLI normalise before comparing.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ignored for admins, who may do everything.
    role: Mapped[OrganiserRole] = mapped_column(
        enum_column(OrganiserRole, "organiser_role", constraint=False), default=OrganiserRole.ORGANISER, server_default="organiser"
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every session cookie carries this key; replacing it (sign-out, new password,
    # deactivation) ends all of the account's sessions at once, with no session table to keep.
    session_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The roster columns this organiser chose (rosters/columns.py); None: the default ones.
    roster_columns: Mapped[list[Any] | None] = mapped_column(JSON)


class ThrottleScope(enum.StrEnum):
    ACCOUNT = "account"  # an email address, whether or not an account has it
    ADDRESS = "address"  # a client address, over every account
    ACCOUNT_ADDRESS = "account_address"  # one account from one client address


class SignInThrottle(Base):
    """Password checks not proven right, per account, per client address, and per account at
    one address (accounts/throttle.py has the rules), kept in the database so that every
    server process sees the same count."""

    __tablename__ = "sign_in_throttle"
    shown_publicly = False
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_sign_in_throttle_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[ThrottleScope] = mapped_column(enum_column(ThrottleScope, "throttle_scope"))
    # The normalised email address, the client's address, or both (address, space, email).
    key: Mapped[str] = mapped_column(String(400))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ACCOUNT rows: the earliest time the account's next password check may run.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ACCOUNT_ADDRESS rows: the last time the account signed in from the address.
    signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrganiserProgramme(Base):
    """A programme a programme manager runs: they see its events and nothing else."""

    __tablename__ = "organiser_programmes"
    shown_publicly = False

    organiser_id: Mapped[int] = mapped_column(ForeignKey("organisers.id", ondelete="CASCADE"), primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"), primary_key=True)


class DataCanary(Base):
    """A known value sealed with the data keys when the portal first ran on this database:
    opening it at start proves PORTAL_DATA_KEY is the right one (portal.sealing)."""

    __tablename__ = "data_canary"
    shown_publicly = False

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Organiser accounts, and the record of failed sign-ins that throttles guessing."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow
from portal.models.enums import enum_column


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
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every session cookie carries this key; replacing it (sign-out, new password,
    # deactivation) ends all of the account's sessions at once, with no session table to keep.
    session_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ThrottleScope(enum.StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"


class SignInThrottle(Base):
    """Failed sign-ins for one account or one client address, kept in the database so that
    every server process sees the same count."""

    __tablename__ = "sign_in_throttle"
    shown_publicly = False
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_sign_in_throttle_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[ThrottleScope] = mapped_column(enum_column(ThrottleScope, "throttle_scope"))
    # The normalised email address, or the client's IP address.
    key: Mapped[str] = mapped_column(String(254))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Rate limits: how often one client address or one email address did something lately."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow
from portal.models.enums import enum_column


class LimitScope(enum.StrEnum):
    REGISTER_IP = "register_ip"
    REGISTER_EMAIL = "register_email"
    SUBSCRIBE_IP = "subscribe_ip"
    SUBSCRIBE_EMAIL = "subscribe_email"
    LOST_LINK_IP = "lost_link_ip"
    LOST_LINK_EMAIL = "lost_link_email"
    VERIFY_IP = "verify_ip"


class RateLimit(Base):
    """Uses of one key in one scope within the current window. Kept in the database, not in
    a process, so that every `portal serve` worker on every host counts the same uses."""

    __tablename__ = "rate_limits"
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        # Finds the rows whose window ended long ago, to forget them.
        Index("ix_rate_limits_updated_at", "updated_at"),
    )
    # No public page or feed shows these rows: writing them leaves the page caches be.
    shown_publicly = False

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[LimitScope] = mapped_column(enum_column(LimitScope, "limit_scope"))
    # A client address (an IPv6 client's /64 network), or a normalised email address.
    key: Mapped[str] = mapped_column(String(254))
    hits: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

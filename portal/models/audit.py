"""The audit log: who changed what, when, from what to what: organisers in the back office or
at the command line, participants through their manage link, and the portal itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow
from portal.models.enums import AuditActor, enum_column


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    shown_publicly = False
    __table_args__ = (
        Index("ix_audit_entries_event_id_id", "event_id", "id"),
        Index("ix_audit_entries_registration_id_id", "registration_id", "id"),
        # The data-access log (exports and reveals over a period) reads by action and time.
        Index("ix_audit_entries_action_created_at", "action", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[AuditActor] = mapped_column(enum_column(AuditActor, "audit_actor"), server_default=text("'organiser'"))
    # The organiser, when actor is "organiser"; None otherwise.
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="RESTRICT"))
    # Both None for changes to programmes and organiser accounts.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="RESTRICT"))
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="RESTRICT"))
    # A dotted verb such as "registration.approve" or "event.update".
    action: Mapped[str] = mapped_column(String(60))
    # Only the fields that changed, as JSON-safe values (times as ISO 8601 strings).
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

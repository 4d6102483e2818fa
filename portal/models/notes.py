"""Organisers' internal notes on a registration: for the back office only, never shown to
the participant (their page, emails, feeds and exports do not read this table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class RegistrationNote(Base):
    __tablename__ = "registration_notes"
    # Nothing public shows a note, and no seat depends on one: writing one empties no cache.
    shown_publicly = False
    __table_args__ = (Index("ix_registration_notes_registration_id_id", "registration_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    # Who wrote it; None once that account is gone.
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

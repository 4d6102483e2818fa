"""Registration forms as data: one per programme (the default for its runs), one per event
that replaces its programme's, and the site's default for events that have neither; which
choices each registration picked (counted for places); and uploaded files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class Questionnaire(Base):
    """An ordered list of questions in the import format's shape (portal.questions.schema
    reads it). `version` rises with every change, so a process can keep the form it built
    from one version and know when it is old."""

    __tablename__ = "forms"
    __table_args__ = (
        CheckConstraint("programme_id IS NULL OR event_id IS NULL", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Neither set: the site's default form (one row, made by the migration).
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    organisation_required: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChoicePick(Base):
    """One choice one registration picked, for a question whose choices have places: counted
    under the event's lock (registrations.seats) to hold the places like seats."""

    __tablename__ = "choice_picks"
    __table_args__ = (Index("ix_choice_picks_event_id_key_value", "event_id", "question_key", "value"),)
    # Picks change the places left that the form shows, as registrations change seats.
    seats_of = "event_id"

    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), primary_key=True)
    question_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))


class Upload(Base):
    """A file a participant sent with a form question. The file lies under PORTAL_UPLOAD_DIR
    with the random `stored_name`; the name the participant gave is kept only to offer it
    back on download."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_registration_id", "registration_id"),)
    shown_publicly = False

    id: Mapped[int] = mapped_column(primary_key=True)
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    question_key: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    # The file on disk is sealed with the data keys (a sensitive question's upload); its real
    # name is then among the registration's sealed answers and `filename` is a generic one.
    sealed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Computed, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.enums import Endorsement, RegistrationStatus, enum_column

if TYPE_CHECKING:
    from portal.models.events import Event

_ACTIVE = "status IN ('pending', 'confirmed', 'waitlisted')"
# What the back office searches: name, email and organisation in lower case, one line each,
# so that a search (which has no line break) matches within one of them, never across two.
SEARCH_TEXT = "lower(name || '\n' || email || '\n' || organisation)"


class Registration(Base):
    __tablename__ = "registrations"
    # A registration changes its event's seats and nothing else public (db.transaction).
    seats_of = "event_id"
    __table_args__ = (
        # One active registration per email and event, enforced by the database as well as
        # the service, so that two racing submissions cannot both get in.
        Index(
            "uq_registrations_event_id_email_active",
            "event_id",
            "email",
            unique=True,
            sqlite_where=text(_ACTIVE),
            postgresql_where=text(_ACTIVE),
        ),
        Index("ix_registrations_event_id_status", "event_id", "status"),
        Index("ix_registrations_email", "email"),
        # The back-office roster sorts one event's registrations by any of these columns and
        # pages with a (value, id) cursor: each index answers a page without sorting the event.
        Index("ix_registrations_event_id_name_id", "event_id", "name", "id"),
        Index("ix_registrations_event_id_email_id", "event_id", "email", "id"),
        Index("ix_registrations_event_id_organisation_id", "event_id", "organisation", "id"),
        Index("ix_registrations_event_id_created_at_id", "event_id", "created_at", "id"),
        Index("ix_registrations_event_id_checked_in_at_id", "event_id", "checked_in_at", "id"),
        Index("ix_registrations_event_id_status_id", "event_id", "status", "id"),
        # The export reads an event's registrations in id order, a batch at a time.
        Index("ix_registrations_event_id_id", "event_id", "id"),
        # A search of one event's roster (of one status, at the door) reads this index alone:
        # it holds the searched text, so no row is visited to rule it out.
        Index("ix_registrations_event_id_status_search_text", "event_id", "status", "search_text"),
        # An index, not a constraint: SQLite adds a column in place only without one (0009).
        Index("uq_registrations_endorsement_token", "endorsement_token", unique=True),
        Index("uq_registrations_checkin_code", "checkin_code", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="RESTRICT"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    # Answers to the programme's own questions (rank, nominating authority, statement...).
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[RegistrationStatus] = mapped_column(enum_column(RegistrationStatus, "registration_status"))
    # The private key to the manage page and personal feed (secrets.token_urlsafe, 256 bits).
    # Kept, not hashed, because a repeated registration must email the same link again and
    # calendar apps subscribed to the personal feed must keep working.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # Place in the waiting-list queue: the queue is ordered by (waitlisted_at, id).
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consented_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A nomination's endorsement by the officer the form's nominator question names: None
    # when nobody was asked. The token opens the officer's private page (/endorse/{token}).
    endorsement: Mapped[Endorsement | None] = mapped_column(enum_column(Endorsement, "endorsement", constraint=False))
    endorsement_token: Mapped[str | None] = mapped_column(String(64))
    endorsement_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the ticket's QR code holds, and what the door types when there is no camera: not
    # the manage token (a ticket shown or printed must not open the registration, and the
    # token must not admit anyone). Given when the registration is first confirmed.
    checkin_code: Mapped[str | None] = mapped_column(String(32))
    # The answers to sensitive questions (portal.sealing), one Fernet token of their JSON;
    # `answers` never holds them. None: no sensitive answer.
    sealed_answers: Mapped[str | None] = mapped_column(Text)
    # When the personal data was removed (retention, an organiser, or the participant's own
    # erasure): name, email, organisation, answers and uploads are gone; status and dates stay.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why some of it was kept when the participant asked for erasure (a completed programme's
    # attendance), in words shown to them; "" otherwise.
    kept_reason: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # Kept by the database (VIRTUAL on SQLite, where the index holds it; STORED on PostgreSQL);
    # deferred, because only the search's WHERE clause reads it.
    search_text: Mapped[str] = mapped_column(Text, Computed(SEARCH_TEXT), deferred=True)

    event: Mapped[Event] = relationship(back_populates="registrations", lazy="raise")

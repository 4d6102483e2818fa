"""Mass email: subscribers to new events, organisers' messages to their registrants, and the
fan-out jobs (mailings) that turn one announcement, digest, message, reminder or follow-up
into one outbox row per recipient."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow
from portal.models.enums import enum_column


class Frequency(enum.StrEnum):
    """How often a subscriber hears of new events."""

    EACH = "each"  # every event, as it is published
    WEEKLY = "weekly"  # one digest a week, on the configured weekday


class Subscriber(Base):
    """Someone who asked by email to hear of new events. Nothing is sent but the request to
    confirm until `confirmed_at` is set; unconfirmed rows are forgotten after seven days."""

    __tablename__ = "subscribers"
    shown_publicly = False
    __table_args__ = (
        # The fan-out reads the confirmed subscribers of one frequency in id order.
        Index("ix_subscribers_frequency_id", "frequency", "id"),
        Index("ix_subscribers_created_at", "created_at"),
        # The audit log names subscribers by id alone: SQLite must never give a new one the
        # id of one who left (PostgreSQL's sequences never do).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Normalised (text.normalise_email): one row per address.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # The private key to the preferences page and the unsubscribe link (secrets.token_urlsafe).
    token: Mapped[str] = mapped_column(String(64), unique=True)
    frequency: Mapped[Frequency] = mapped_column(enum_column(Frequency, "subscriber_frequency"), default=Frequency.EACH)
    # Programme codes and categories asked for; an empty list means all of them.
    programmes: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MailingKind(enum.StrEnum):
    ANNOUNCE = "announce"  # one newly published (or re-announced) event, to its subscribers
    DIGEST = "digest"  # the week's new events, to weekly subscribers
    MESSAGE = "message"  # an organiser's message to part of a roster
    REMINDER = "reminder"  # before an event, to its confirmed registrants
    FOLLOWUP = "followup"  # after an event, to those who came


class Mailing(Base):
    """One email to many, fanned out by the worker in batches. `key` names what is sent
    (announce:12, reminder:12:P2D, digest:2027-01-04...) and is unique, so that nothing is sent
    twice however often, or by how many workers, it is asked for. `cursor` is the last
    recipient id written to the outbox: each batch writes its outbox rows and moves the cursor
    in one transaction, so a worker that dies resumes where the last batch committed."""

    __tablename__ = "mailings"
    shown_publicly = False
    __table_args__ = (Index("ix_mailings_finished_at_due_at", "finished_at", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[MailingKind] = mapped_column(enum_column(MailingKind, "mailing_kind"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("event_messages.id", ondelete="CASCADE"))
    # Not fanned out before this time. A reminder's is the time it was due, which also tells
    # who registered too late to need it.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    queued: Mapped[int] = mapped_column(Integer, default=0)
    # Why it ended without sending, when it did ("the event has started", "the event was cancelled").
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventMessage(Base):
    """An organiser's message to part of an event's roster, as written; one outbox row per
    recipient points back to it through its mailing."""

    __tablename__ = "event_messages"
    shown_publicly = False
    __table_args__ = (Index("ix_event_messages_event_id_created_at", "event_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    sender: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # Who it goes to: {"statuses": [...], "checked_in": true|false|null, "question": key, "answer": value}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # The compose form's one-time value: a second submission of the same form (a double
    # click, a resent POST) finds this row and sends nothing more.
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

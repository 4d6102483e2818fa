from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.enums import EventStatus, enum_column

if TYPE_CHECKING:
    from portal.models.programmes import Programme
    from portal.models.registrations import Registration


def new_uid() -> str:
    return f"{uuid.uuid4()}@portal"


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_status_starts_at", "status", "starts_at"),
        Index("ix_events_programme_id_starts_at", "programme_id", "starts_at"),
        # The listing's category filter reads the categories off it (catalogue/listing.py).
        Index("ix_events_category_status", "category", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The iCalendar UID: made once at creation and never derived from anything editable, so a
    # calendar app that has the event keeps one copy of it through every edit.
    uid: Mapped[str] = mapped_column(String(80), unique=True, default=new_uid)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programmes.id", ondelete="RESTRICT"))
    category: Mapped[str] = mapped_column(String(40), default="seminar")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Singapore")
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    venue: Mapped[str] = mapped_column(String(300), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    online_url: Mapped[str | None] = mapped_column(String(500))
    capacity: Mapped[int | None] = mapped_column(Integer)
    waitlist: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[EventStatus] = mapped_column(enum_column(EventStatus, "event_status"), default=EventStatus.DRAFT)
    registration_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registration_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(Text, default="")
    speakers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Rises whenever the time, place or status changes (iCalendar SEQUENCE).
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # Rises in every transaction that changes this event's registrations (db.transaction), so
    # a count kept of them (rosters.numbers) knows it is old without counting again.
    seats_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Reminders before the start, as ISO 8601 durations ("P2D", "PT2H"); None: the site's
    # default (PORTAL_REMINDERS); []: none.
    reminders: Mapped[list[str] | None] = mapped_column(JSON)
    # A message after the end: {"after": "P1D", "subject": ..., "body": Markdown}; None: none.
    followup: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # Who earns a certificate: {"share": 0.8} (of the event's days) or {"days": 3}; None: all
    # the days.
    certificate_rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    programme: Mapped[Programme | None] = relationship(back_populates="events", lazy="raise")
    registrations: Mapped[list[Registration]] = relationship(back_populates="event", lazy="raise")

"""At the door and after: check-ins (one row per scan or tap that admitted someone, per day)
and certificates of attendance."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class CheckIn(Base):
    """Someone admitted on one day of an event: by a scan of their ticket, a typed code, or
    a tap on the door page. Two doors that admit the same ticket while offline each leave a
    row; the earliest is the check-in, and the roster shows both. `scan_id` is the id the
    door gave the scan, so a scan sent twice (a retried sync) is one row."""

    __tablename__ = "check_ins"
    # A check-in changes its event's seats view (the roster's counts) and nothing public.
    seats_of = "event_id"
    __table_args__ = (
        Index("ix_check_ins_event_id_day", "event_id", "day"),
        Index("ix_check_ins_registration_id_day", "registration_id", "day"),
        Index("uq_check_ins_scan_id", "scan_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    # The day of the event it counts for, in the event's own zone.
    day: Mapped[date] = mapped_column(Date)
    # When the door admitted them (the door's clock, for a scan made offline), in UTC.
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    scan_id: Mapped[str | None] = mapped_column(String(64))
    # Which door: the device's name for itself, or "door page" for a tap.
    door: Mapped[str] = mapped_column(String(100), default="")
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Certificate(Base):
    """A certificate of attendance as issued: it keeps exactly what the certificate shows, so
    that it verifies even after the registration is anonymised or gone."""

    __tablename__ = "certificates"
    shown_publicly = False
    __table_args__ = (Index("ix_certificates_registration_id", "registration_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The verification code printed on it and in its QR (/certificates/{code}).
    code: Mapped[str] = mapped_column(String(32), unique=True)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="SET NULL"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    # What it shows: {"name", "event", "programme", "dates", "days_attended", "days", "issuer"}.
    shows: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str] = mapped_column(String(300), default="")
    # The certificate that replaced this one (a corrected name), when one did.
    replaced_by: Mapped[int | None] = mapped_column(Integer)

"""A conference's programme of its own: sessions (keynotes, panels, workshops, breaks) within
an event, the speakers who speak in them, the sessions a participant chose, and check-ins at
a session's door."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, utcnow
from portal.models.enums import enum_column
from portal.models.events import new_uid

if TYPE_CHECKING:
    from portal.models.events import Event


class SessionKind(enum.StrEnum):
    KEYNOTE = "keynote"
    PANEL = "panel"
    WORKSHOP = "workshop"
    TALK = "talk"
    BREAK = "break"
    MEAL = "meal"

    @property
    def quiet(self) -> bool:
        """A break or a meal: a quiet row in the timetable, never chosen, never in a feed."""
        return self in (SessionKind.BREAK, SessionKind.MEAL)


class SessionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


def new_guid() -> str:
    return str(uuid.uuid4())


class Speaker(Base):
    """Someone who speaks at sessions; one public page (/speakers/{key}) across every event."""

    __tablename__ = "speakers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The import's key and the page's address: lowercase words joined by hyphens.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    # The person's GUID in the schedule exports (frab's persons): made once, never derived.
    guid: Mapped[str] = mapped_column(String(36), unique=True, default=new_guid)
    name: Mapped[str] = mapped_column(String(200))
    affiliation: Mapped[str] = mapped_column(String(300), default="")
    # Their role or position ("Professor of Sociology"), not the session's title.
    title: Mapped[str] = mapped_column(String(300), default="")
    bio: Mapped[str] = mapped_column(Text, default="")  # Markdown, sanitised when shown
    # The resized photo's file name under PORTAL_UPLOAD_DIR/speakers (a random name), or None.
    photo: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    sessions: Mapped[list[EventSession]] = relationship(
        secondary="session_speakers", back_populates="speakers", lazy="raise", viewonly=True
    )


class EventSession(Base):
    """One session of an event's timetable. Its times lie within the event's and are shown in
    the event's zone."""

    __tablename__ = "event_sessions"
    __table_args__ = (
        UniqueConstraint("event_id", "key", name="uq_event_sessions_event_id_key"),
        Index("ix_event_sessions_event_id_starts_at", "event_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # Unique within its event: the import's key and the session's address under the event.
    key: Mapped[str] = mapped_column(String(120))
    # The iCalendar UID, made once (like an event's) so a calendar keeps one copy through edits.
    uid: Mapped[str] = mapped_column(String(80), unique=True, default=new_uid)
    # Its GUID in the schedule exports, made once.
    guid: Mapped[str] = mapped_column(String(36), unique=True, default=new_guid)
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[SessionKind] = mapped_column(enum_column(SessionKind, "session_kind"), default=SessionKind.TALK)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    room: Mapped[str] = mapped_column(String(200), default="")
    track: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")  # Markdown
    # "Choose to attend": participants pick it when registering (and on the manage page).
    choose: Mapped[bool] = mapped_column(Boolean, default=False)
    # Places for those who choose it; None: no limit.
    places: Mapped[int | None] = mapped_column(Integer)
    # When full, further choosers wait in order and are given a freed place.
    waitlist: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether its door checks people in (the session's roster has a check-in column).
    check_in: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[SessionStatus] = mapped_column(
        enum_column(SessionStatus, "session_status"), default=SessionStatus.SCHEDULED
    )
    # Rises when its time, room or status changes (iCalendar SEQUENCE).
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship(lazy="raise")
    speakers: Mapped[list[Speaker]] = relationship(
        secondary="session_speakers", back_populates="sessions", lazy="raise",
        order_by="SessionSpeaker.position",
    )

    @property
    def cancelled(self) -> bool:
        return self.status == SessionStatus.CANCELLED


class SessionSpeaker(Base):
    """A speaker in a session, in the order the session names them."""

    __tablename__ = "session_speakers"
    __table_args__ = (Index("ix_session_speakers_speaker_id", "speaker_id"),)

    session_id: Mapped[int] = mapped_column(ForeignKey("event_sessions.id", ondelete="CASCADE"), primary_key=True)
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class SessionChoice(Base):
    """A registration's choice of a session. It holds one of the session's places while the
    registration is active (pending, confirmed or waiting for a seat) and `waiting` is false;
    with `waiting` it is on the session's own waiting list, in order of `waiting_since`."""

    __tablename__ = "session_choices"
    # Choosing changes the event's seats view (a session's places left) and nothing else.
    seats_of = "event_id"
    __table_args__ = (
        UniqueConstraint("registration_id", "session_id", name="uq_session_choices_registration_id_session_id"),
        Index("ix_session_choices_session_id_waiting", "session_id", "waiting"),
        Index("ix_session_choices_event_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("event_sessions.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    waiting: Mapped[bool] = mapped_column(Boolean, default=False)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionCheckIn(Base):
    """Someone admitted at a session's door (for sessions that check people in)."""

    __tablename__ = "session_check_ins"
    seats_of = "event_id"
    __table_args__ = (
        UniqueConstraint("session_id", "registration_id", name="uq_session_check_ins_session_id_registration_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("event_sessions.id", ondelete="CASCADE"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    organiser_id: Mapped[int | None] = mapped_column(ForeignKey("organisers.id", ondelete="SET NULL"))

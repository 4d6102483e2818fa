"""The outbox as organisers see it in the back office: messages by status, searchable, and
sending one again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.errors import InvalidTransition, NotFound
from portal.models import Event, MessageStatus, OutboxMessage
from portal.paging import Paged, clamp_page, offset
from portal.text import like_pattern


@dataclass(frozen=True)
class OutboxRow:
    message: OutboxMessage
    event_title: str | None
    event_slug: str | None


@dataclass(frozen=True)
class OutboxPage(Paged):
    rows: list[OutboxRow]
    counts: dict[str, int]
    status: MessageStatus | None
    q: str | None
    page: int
    per_page: int
    total: int


def list_messages(
    session: Session, *, status: MessageStatus | None = None, q: str | None = None, page: int = 1, per_page: int = 50
) -> OutboxPage:
    """Messages newest first, of one status and to addresses containing `q` if given, with
    the number of messages in each status."""
    counts = {s.value: 0 for s in MessageStatus}
    for value, count in session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)):
        counts[MessageStatus(value).value] = count
    conditions = []
    if status is not None:
        conditions.append(OutboxMessage.status == status)
    if q:
        conditions.append(OutboxMessage.to_address.like(like_pattern(q), escape="\\"))
    total = session.scalar(select(func.count()).select_from(OutboxMessage).where(*conditions)) or 0
    page = clamp_page(page, total, per_page)
    query = (
        select(OutboxMessage, Event.title, Event.slug)
        .outerjoin(Event, Event.id == OutboxMessage.event_id)
        .where(*conditions)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .offset(offset(page, per_page))
        .limit(per_page)
    )
    rows = [OutboxRow(message, title, slug) for message, title, slug in session.execute(query)]
    return OutboxPage(rows, counts, status, q, page, per_page, total)


def requeue(session: Session, actor: Actor | None, message_id: int, *, now: datetime | None = None) -> OutboxMessage:
    """Send a failed or sent message again, as it was written: back in the queue, due now,
    its attempts counted from zero."""
    now = now or utcnow()
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound("There is no such message in the outbox.")
    if message.status == MessageStatus.QUEUED:
        raise InvalidTransition("This message is already waiting to be sent.")
    before = {"status": message.status, "attempts": message.attempts}
    message.status = MessageStatus.QUEUED
    message.attempts = 0
    message.next_attempt_at = now
    message.claimed_until = None
    message.last_error = ""
    audit.record(
        session, actor, "message.resend", event_id=message.event_id, registration_id=message.registration_id,
        before=before, after={"status": MessageStatus.QUEUED, "attempts": 0}, now=now,
    )
    return message

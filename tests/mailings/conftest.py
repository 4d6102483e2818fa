"""Fixtures for the mailings' tests: subscribers, a fan-out and a planning round, and the
real SMTP server of the mail tests."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.db import utcnow
from portal.mail.audiences import ListOptions
from portal.mail.mailings import fan_out_due
from portal.mail.planner import Schedule, plan_due
from portal.models import Frequency, Mailing, OutboxMessage, Subscriber
from portal.site import Site
from tests.mail.conftest import deliver, smtp_server  # noqa: F401
from tests.web.backoffice.conftest import _quick_hashing, make_organiser  # noqa: F401

_numbers = itertools.count(1)


@pytest.fixture
def make_subscriber(run: Callable[..., Any]) -> Callable[..., Subscriber]:
    """make_subscriber(**overrides): a confirmed subscriber to every new event, as they come."""

    def _make(**overrides: Any) -> Subscriber:
        n = next(_numbers)
        values: dict[str, Any] = {
            "email": f"reader{n}@example.org",
            "token": secrets.token_urlsafe(32),
            "frequency": Frequency.EACH,
            "programmes": [],
            "categories": [],
            "confirmed_at": utcnow(),
        }
        values.update(overrides)

        def _add(session: Session) -> Subscriber:
            subscriber = Subscriber(**values)
            session.add(subscriber)
            session.flush()
            return subscriber

        return run(_add)

    return _make


@pytest.fixture
def fan_out(sessions: sessionmaker[Session], site: Site) -> Callable[..., int]:
    """fan_out(now=None, limit=500, options=ListOptions()): fan out every due mailing to the end."""

    def _fan_out(now: datetime | None = None, limit: int = 500, options: ListOptions | None = None) -> int:
        clock = (lambda: now) if now is not None else utcnow
        total = 0
        while (done := fan_out_due(sessions, site, options or ListOptions(), now=clock, limit=limit)):
            total += done
        return total

    return _fan_out


@pytest.fixture
def plan(run: Callable[..., Any]) -> Callable[..., int]:
    """plan(now=None, reminders=("P2D",), digest_weekday=None): one planning round. The
    digest's weekday is by default three days after today's, so that no digest is due unless
    a test asks for one."""

    def _plan(now: datetime | None = None, reminders: tuple[str, ...] = ("P2D",), digest_weekday: int | None = None) -> int:
        if digest_weekday is None:
            digest_weekday = ((now or utcnow()).astimezone(ZoneInfo("Asia/Singapore")).weekday() + 3) % 7
        schedule = Schedule(reminders=reminders, digest_weekday=digest_weekday)
        return run(lambda s: plan_due(s, schedule, now=now))

    return _plan


@pytest.fixture
def mailings(sessions: sessionmaker[Session]) -> Callable[[], dict[str, Mailing]]:
    def _mailings() -> dict[str, Mailing]:
        with sessions() as session:
            return {m.key: m for m in session.scalars(select(Mailing))}

    return _mailings


@pytest.fixture
def queued(sessions: sessionmaker[Session]) -> Callable[..., list[OutboxMessage]]:
    """queued(kind=None): the outbox rows, of one kind if given, in id order."""

    def _queued(kind: str | None = None) -> list[OutboxMessage]:
        with sessions() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if kind is not None:
                query = query.where(OutboxMessage.kind == kind)
            return list(session.scalars(query))

    return _queued

"""`portal worker --once`: what is due is fanned out and delivered, and unconfirmed
subscriptions are forgotten after seven days."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from portal.catalogue import editing
from portal.db import utcnow
from portal.models import EventStatus, MessageStatus, Subscriber
from tests.mail.conftest import command_environment


def test_the_worker_announces_delivers_and_forgets_stale_requests(
    run, sessions, make_event, make_subscriber, queued, database_url, smtp_server, tmp_path
):
    reader = make_subscriber()
    stale = make_subscriber(confirmed_at=None, created_at=utcnow() - timedelta(days=8))
    fresh = make_subscriber(confirmed_at=None, created_at=utcnow() - timedelta(days=6))
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    run(editing.publish_event, None, event.slug)

    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "worker", "--once"],
        env=command_environment(database_url, PORTAL_SMTP_URL=smtp_server.url), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (arrival,) = smtp_server.to(reader.email)
    assert event.title in arrival.subject
    assert [m.status for m in queued("announcement")] == [MessageStatus.SENT]
    with sessions() as session:
        left = set(session.scalars(select(Subscriber.email)))
    assert left == {reader.email, fresh.email} and stale.email not in left

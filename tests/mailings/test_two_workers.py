"""Reminders and follow-ups go out once: two `portal worker` processes at once, one killed
mid-way, against the real SMTP server."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.db import utcnow
from portal.models import Mailing, MessageStatus, OutboxMessage
from tests.mail.conftest import command_environment

PEOPLE = 120


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.mark.parametrize("kind", ["reminder", "followup"])
def test_two_workers_one_killed_mid_way_send_each_person_one_email(
    kind, make_event, make_registration, sessions, database_url, smtp_server, tmp_path
):
    now = utcnow()
    if kind == "reminder":
        event = make_event(starts_at=now + timedelta(hours=30), ends_at=now + timedelta(hours=32))
        people = [make_registration(event, created_at=now - timedelta(days=5)) for _ in range(PEOPLE)]
    else:
        followup = {"after": "PT1H", "subject": "Thank you, {name}", "body": "The slides are online."}
        event = make_event(starts_at=now - timedelta(hours=4), ends_at=now - timedelta(hours=2), followup=followup)
        people = [make_registration(event, checked_in_at=now - timedelta(hours=3)) for _ in range(PEOPLE)]

    env = command_environment(database_url, PORTAL_SMTP_URL=smtp_server.url, PORTAL_FAN_OUT_BATCH="4")
    command = [sys.executable, "-m", "portal.cli", "worker", "--interval", "0.1"]
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = []
    for log in logs:
        with log.open("w") as out:
            workers.append(subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT))

    def progress() -> tuple[int, bool]:
        with sessions() as session:
            mailing = session.scalars(select(Mailing).where(Mailing.kind == kind)).first()
            return (mailing.cursor, mailing.finished_at is not None) if mailing else (0, False)

    try:
        # Kill the first worker at once, mid fan-out: some batches written, not all.
        _wait_for(lambda: progress()[0] > 0)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=20)
        # Both workers were at it, and the mailing was not done when one of them died.
        assert not progress()[1]
        _wait_for(lambda: progress()[1])

        def delivered() -> bool:
            with sessions() as session:
                waiting = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != MessageStatus.SENT))
                return waiting == 0

        # A message the dead worker had claimed waits out its lease (five minutes): the test
        # does not wait that long; those it had not claimed all go.
        _wait_for(lambda: delivered() or _only_leased_left(sessions))
        workers[1].send_signal(signal.SIGTERM)
        workers[1].wait(timeout=30)
        assert workers[1].returncode == 0, logs[1].read_text()
        assert "Traceback" not in logs[1].read_text()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    with sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)).all()
    # Queued exactly once each: the fan-out's cursor moved with its rows.
    assert sorted(r.to_address for r in rows) == sorted(p.email for p in people)
    # Delivered at most once each, as mail clients count it: one Message-ID per person.
    ids = defaultdict(set)
    for arrival in smtp_server.arrivals:
        ids[arrival.rcpt_tos[0]].add(arrival.message["Message-ID"])
    assert all(len(found) == 1 for found in ids.values()), ids
    # Each arrival was queued; each row recorded as sent arrived. (A row the killed worker
    # had sent but not yet recorded waits out its lease: sent, not yet marked so.)
    sent = {r.to_address for r in rows if r.status == MessageStatus.SENT}
    assert sent <= set(ids) <= {r.to_address for r in rows}


def _only_leased_left(sessions) -> bool:
    now = utcnow()
    with sessions() as session:
        left = session.scalars(select(OutboxMessage).where(OutboxMessage.status != MessageStatus.SENT)).all()
    return all(m.claimed_until is not None and m.claimed_until > now for m in left)

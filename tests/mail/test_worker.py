"""The delivery worker against a real SMTP server and its faults: the server down, slow or
refusing, a worker killed mid-batch, two workers at once, and the `portal worker` command."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from portal.db import make_engine, make_session_factory, transaction, utcnow
from portal.mail.outbox import (
    LEASE,
    LEASE_MARGIN,
    MAX_ATTEMPTS,
    backoff,
    claim_due,
    deliver_due,
    run_worker,
)
from portal.models import MessageStatus
from tests.mail.conftest import command_environment, transport_for

Q, SENT, FAILED = MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.FAILED


class Recorder:
    """A transport that keeps what it was asked to send, and can be told to misbehave."""

    def __init__(self, inner=None, *, fail_from=None, raise_=None, after_send=False):
        self.inner = inner
        self.sent = []
        self.fail_from = fail_from
        self.raise_ = raise_
        self.after_send = after_send

    def send(self, mail_from, envelope):
        misbehave = self.fail_from is not None and len(self.sent) >= self.fail_from
        if misbehave and not self.after_send:
            raise self.raise_
        if self.inner is not None:
            self.inner.send(mail_from, envelope)
        self.sent.append(envelope.id)
        if misbehave:
            raise self.raise_


# --- faults -------------------------------------------------------------------------------------


def test_smtp_server_down_then_back(enqueue, rows, smtp_down, deliver):
    ids = enqueue(3)
    t0 = utcnow()

    assert deliver(smtp_down, now=t0) == (0, 3)  # returns normally: nothing raised
    for message in rows().values():
        assert message.status == Q
        assert message.attempts == 1
        assert message.next_attempt_at == t0 + backoff(1) > t0
        assert message.claimed_until is None
        assert message.last_error.startswith("ConnectionRefusedError")
    # Not due again until the backoff has passed.
    assert deliver(smtp_down, now=t0 + timedelta(seconds=30)) == (0, 0)

    smtp_down.start()
    assert deliver(smtp_down, now=t0 + timedelta(minutes=1, seconds=1)) == (3, 0)
    assert sorted(a.rcpt_tos[0] for a in smtp_down.arrivals) == sorted(m.to_address for m in rows().values())
    assert all(m.status == SENT and m.attempts == 2 and m.last_error == "" for m in rows().values())
    assert len(ids) == 3


def test_backoff_grows_exponentially_up_to_a_cap():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert backoff(30) == timedelta(hours=4)


def test_a_server_that_never_answers_is_a_timeout_not_a_crash(enqueue, rows, sessions, settings):
    enqueue(1)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        transport = transport_for(f"smtp://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        assert deliver_due(sessions, transport, settings.mail_from) == (0, 1)
    (message,) = rows().values()
    assert message.status == Q and message.attempts == 1
    assert "timed out" in message.last_error


def test_a_message_refused_for_now_every_time_is_marked_failed_after_max_attempts(enqueue, rows, smtp_server, deliver):
    smtp_server.handler.reply = "450 4.2.1 Mailbox busy, try later"
    (message_id,) = enqueue(1)
    now = utcnow()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert deliver(smtp_server, now=now) == (0, 1)
        message = rows()[message_id]
        assert message.attempts == attempt
        now = now + backoff(attempt) + timedelta(seconds=1)
    assert message.status == FAILED
    assert "450" in message.last_error and "Mailbox busy" in message.last_error
    # A failed message is not tried again, whatever the time.
    assert deliver(smtp_server, now=now + timedelta(days=30)) == (0, 0)
    assert smtp_server.arrivals == []


def test_an_unexpected_error_in_a_transport_is_a_failed_attempt(enqueue, rows, sessions, settings):
    enqueue(2)
    transport = Recorder(fail_from=0, raise_=ValueError("a header the library refused"))
    assert deliver_due(sessions, transport, settings.mail_from) == (0, 2)
    assert all(m.status == Q and m.last_error == "ValueError: a header the library refused" for m in rows().values())


# --- killed workers and leases ----------------------------------------------------------------


def test_a_worker_killed_after_claiming_loses_nothing(enqueue, rows, sessions, smtp_server, deliver):
    enqueue(4)
    t0 = utcnow()
    # The dead worker: it claimed a batch and never came back to record anything.
    with transaction(sessions, write=True) as session:
        assert len(claim_due(session, now=t0, limit=10)) == 4

    assert deliver(smtp_server, now=t0 + timedelta(minutes=1)) == (0, 0)  # still leased
    assert deliver(smtp_server, now=t0 + LEASE + timedelta(seconds=1)) == (4, 0)
    assert len(smtp_server.arrivals) == 4
    assert all(m.status == SENT for m in rows().values())


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), SystemExit(1)], ids=["KeyboardInterrupt", "SystemExit"])
def test_a_worker_interrupted_mid_batch_sends_nothing_twice(interruption, enqueue, rows, sessions, settings, smtp_server, deliver):
    ids = enqueue(5)
    t0 = utcnow()
    dying = Recorder(transport_for(smtp_server.url), fail_from=2, raise_=interruption)
    with pytest.raises(type(interruption)):
        deliver_due(sessions, dying, settings.mail_from, now=lambda: t0)
    assert dying.sent == ids[:2]
    state = rows()
    assert [state[i].status for i in ids] == [SENT, SENT, Q, Q, Q]
    # The message in hand keeps its lease; the untried rest were handed back at once.
    assert state[ids[2]].claimed_until == t0 + LEASE
    assert state[ids[3]].claimed_until is None and state[ids[4]].claimed_until is None

    assert deliver(smtp_server, now=t0) == (2, 0)
    assert deliver(smtp_server, now=t0 + LEASE + timedelta(seconds=1)) == (1, 0)
    received = Counter(a.rcpt_tos[0] for a in smtp_server.arrivals)
    assert received == Counter({f"{state[i].to_address}": 1 for i in ids})
    assert all(m.status == SENT and m.attempts == 1 for m in rows().values())


def test_at_least_once_a_send_whose_record_was_lost_is_sent_again(enqueue, rows, sessions, settings, smtp_server, deliver):
    """The documented gap: the server took the message, then the worker died before it could
    record that; the message goes again after the lease. Nothing is lost."""
    (message_id,) = enqueue(1)
    t0 = utcnow()
    dies_after_sending = Recorder(transport_for(smtp_server.url), fail_from=0, raise_=KeyboardInterrupt(), after_send=True)
    with pytest.raises(KeyboardInterrupt):
        deliver_due(sessions, dies_after_sending, settings.mail_from, now=lambda: t0)
    assert len(smtp_server.arrivals) == 1
    assert deliver(smtp_server, now=t0 + LEASE + timedelta(seconds=1)) == (1, 0)
    assert len(smtp_server.arrivals) == 2
    assert rows()[message_id].status == SENT


def test_a_worker_starts_no_send_once_its_lease_runs_short(enqueue, rows, sessions, settings):
    enqueue(3)
    t0 = utcnow()
    clock = iter([t0] + [t0 + LEASE - LEASE_MARGIN + timedelta(seconds=1)] * 10)
    transport = Recorder()
    assert deliver_due(sessions, transport, settings.mail_from, now=lambda: next(clock)) == (0, 0)
    assert transport.sent == []
    # Handed back, not left leased: the next round takes them at once.
    assert all(m.claimed_until is None and m.attempts == 0 for m in rows().values())
    assert deliver_due(sessions, transport, settings.mail_from) == (3, 0)


def test_asked_to_stop_a_worker_finishes_the_message_in_hand_and_hands_back_the_rest(enqueue, rows, sessions, settings):
    ids = enqueue(4)
    stop = threading.Event()

    class StopsAfterOne(Recorder):
        def send(self, mail_from, envelope):
            super().send(mail_from, envelope)
            stop.set()

    transport = StopsAfterOne()
    assert deliver_due(sessions, transport, settings.mail_from, stop=stop) == (1, 0)
    state = rows()
    assert state[ids[0]].status == SENT
    assert all(state[i].status == Q and state[i].claimed_until is None for i in ids[1:])


def test_run_worker_once_delivers_everything_due_in_several_batches(enqueue, rows, sessions, settings):
    enqueue(7)
    transport = Recorder()
    run_worker(sessions, transport, settings.mail_from, once=True, batch=3)
    assert len(transport.sent) == 7
    assert all(m.status == SENT for m in rows().values())


def test_run_worker_survives_a_failing_round(enqueue, sessions, settings, monkeypatch):
    """A round that raises (say the database is unreachable) is logged and tried again."""
    import portal.mail.outbox as outbox

    calls = []
    stop = threading.Event()

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database unreachable")
        stop.set()
        return (0, 0)

    monkeypatch.setattr(outbox, "deliver_due", flaky)
    run_worker(sessions, Recorder(), settings.mail_from, interval=0.01, stop=stop)
    assert len(calls) == 2
    with pytest.raises(RuntimeError):
        monkeypatch.setattr(outbox, "deliver_due", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
        run_worker(sessions, Recorder(), settings.mail_from, once=True)


# --- several workers --------------------------------------------------------------------------


def test_two_workers_at_once_deliver_each_message_exactly_once(enqueue, rows, database_url, settings, smtp_server):
    """Each worker has its own engine, as two processes would. On PostgreSQL they claim disjoint
    rows with SKIP LOCKED; on SQLite the write lock makes them take turns."""
    ids = enqueue(40)
    start = threading.Barrier(2)
    errors = []
    counts = []

    def worker():
        engine = make_engine(database_url, pool_size=2)
        try:
            sessions = make_session_factory(engine)
            transport = transport_for(smtp_server.url)
            start.wait()
            total = 0
            while True:
                sent, failed = deliver_due(sessions, transport, settings.mail_from, limit=3)
                assert failed == 0
                if sent == 0:
                    break
                total += sent
            counts.append(total)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(counts) == 40, counts
    received = Counter(a.rcpt_tos[0] for a in smtp_server.arrivals)
    assert len(received) == 40 and set(received.values()) == {1}
    assert all(m.status == SENT and m.attempts == 1 for m in rows().values())
    assert len(ids) == 40


# --- the command -------------------------------------------------------------------------------


def test_portal_worker_once_writes_to_the_log_without_a_mail_server(run, site, make_event, make_registration, rows, database_url, tmp_path):
    from portal.mail.messages import queue_registration_message

    event = make_event()
    registration = make_registration(event)
    run(lambda s: queue_registration_message(s, site, "confirmed", registration, event))

    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "worker", "--once"],
        env=command_environment(database_url), cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # The developer's whole point: the private link, readable in the log.
    assert f"http://testserver/registrations/{registration.token}" in done.stderr
    assert f"Confirmed: {event.title}" in done.stderr
    assert all(m.status == SENT for m in rows().values())


def test_portal_worker_polls_until_sigterm(enqueue, rows, database_url, smtp_server, tmp_path):
    enqueue(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "worker", "--interval", "0.2"],
        env=command_environment(database_url, PORTAL_SMTP_URL=smtp_server.url), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _wait_for(lambda: len(smtp_server.arrivals) == 1)
        enqueue(2)  # queued while the worker is idle: the next poll takes them
        _wait_for(lambda: len(smtp_server.arrivals) == 3)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert all(m.status == SENT for m in rows().values())


def _wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


# --- one connection a batch -------------------------------------------------------------------


def test_a_batch_goes_over_one_connection_and_a_dropped_one_is_replaced(enqueue, rows, smtp_server, sessions, settings):
    from tests.mail.conftest import transport_for

    transport = transport_for(smtp_server.url)
    connections = []
    real_connect = transport._connect

    def counting_connect():
        smtp = real_connect()
        connections.append(smtp)
        return smtp

    transport._connect = counting_connect
    enqueue(3)
    assert deliver_due(sessions, transport, settings.mail_from) == (3, 0)
    assert len(connections) == 1
    assert transport._kept is None  # the batch's end closed it
    # A connection the server closed between two messages: the message goes on a new one.
    enqueue(2)
    original = transport.send

    def drop_after_first(mail_from, envelope):
        original(mail_from, envelope)
        transport._kept.sock.shutdown(socket.SHUT_RDWR)

    transport.send = drop_after_first
    assert deliver_due(sessions, transport, settings.mail_from) == (2, 0)
    assert len(connections) == 3
    assert len(smtp_server.arrivals) == 5
    assert all(m.status == SENT and m.attempts == 1 for m in rows().values())

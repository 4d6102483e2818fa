"""Capacity (seats, and places per choice) is never exceeded when registrations race: many
threads, each with its own engine (as separate server processes would have), against the same
database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.errors import ChoiceFull
from portal.models import ChoicePick, Registration, RegistrationStatus
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from portal.registrations import participants
from portal.registrations.participants import Outcome, Submission
from portal.registrations.seats import places_taken

S = RegistrationStatus


def _race(database_url: str, n: int, call: Callable[[Any, int], Outcome]) -> tuple[list[Outcome], list[BaseException]]:
    """Start n threads that each call `call(sessions, i)` at the same moment."""
    engines = [make_engine(database_url, pool_size=1) for _ in range(n)]
    barrier = threading.Barrier(n)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        sessions = make_session_factory(engines[i])
        try:
            barrier.wait(timeout=30)
            outcome = call(sessions, i)
        except BaseException as exc:  # noqa: BLE001 - the test reports every failure
            with lock:
                errors.append(exc)
        else:
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a racing thread hung"
    finally:
        for engine in engines:
            engine.dispose()
    return outcomes, errors


def _rows(sessions, event_id):  # type: ignore[no-untyped-def]
    with sessions() as session:
        rows = session.scalars(select(Registration).where(Registration.event_id == event_id)).all()
        positions = {
            r.id: participants.waitlist_position(session, r) for r in rows if r.status == S.WAITLISTED
        }
        return list(rows), positions


def test_forty_racing_registrations_fill_five_seats_exactly(database_url, make_event, site, sessions):
    event = make_event(capacity=5, waitlist=True)
    n = 40

    def call(factory, i):  # type: ignore[no-untyped-def]
        submission = Submission(name=f"Racer {i}", email=f"racer{i}@example.org")
        return run_unit_of_work(factory, participants.register, site, event.slug, submission, write=True)

    outcomes, errors = _race(database_url, n, call)

    assert errors == []
    assert len(outcomes) == n and all(o.created for o in outcomes)
    rows, positions = _rows(sessions, event.id)
    assert len(rows) == n
    assert sum(r.status == S.CONFIRMED for r in rows) == 5
    assert sum(r.status == S.WAITLISTED for r in rows) == n - 5
    assert sorted(positions.values()) == list(range(1, n - 5 + 1))
    # What each caller was told agrees with what the database holds.
    told = {o.registration_id: o.status for o in outcomes}
    assert told == {r.id: r.status for r in rows}


def test_the_same_email_racing_registers_once(database_url, make_event, site, sessions, outbox):
    event = make_event(capacity=5)

    def call(factory, i):  # type: ignore[no-untyped-def]
        submission = Submission(name=f"Twin {i}", email="twin@example.org" if i % 2 else " TWIN@example.org")
        return run_unit_of_work(factory, participants.register, site, event.slug, submission, write=True)

    outcomes, errors = _race(database_url, 10, call)

    assert errors == []
    assert sorted(o.created for o in outcomes) == [False] * 9 + [True]
    rows, _ = _rows(sessions, event.id)
    assert len(rows) == 1 and rows[0].status == S.CONFIRMED
    assert {o.registration_id for o in outcomes} == {rows[0].id}
    kinds = sorted(m.kind for m in outbox())
    assert kinds == ["already_registered"] * 9 + ["confirmed"]


def test_fifty_racing_for_a_choice_with_five_places_five_get_it(database_url, make_event, run, site, sessions, outbox):
    """Places per choice are held like seats: under the event's lock, counted afresh by each
    registration, so exactly five get the workshop and the rest are refused with nothing
    written for them (the form then shows the error and keeps what they typed)."""
    event = make_event(capacity=None)
    workshop = {"key": "workshop", "type": "choice", "label": "Workshop", "choices": [
        {"value": "a", "label": "Workshop A", "places": 5}, {"value": "b", "label": "Workshop B"},
    ]}
    run(save_form, None, Owner(event_id=event.id), parse_form([workshop]))
    n = 50

    def call(factory, i):  # type: ignore[no-untyped-def]
        submission = Submission(name=f"Racer {i}", email=f"racer{i}@example.org", answers={"workshop": "a"})
        return run_unit_of_work(factory, participants.register, site, event.slug, submission, write=True)

    outcomes, errors = _race(database_url, n, call)

    assert len(outcomes) == 5 and all(o.created and o.status == S.CONFIRMED for o in outcomes)
    assert len(errors) == n - 5 and all(isinstance(e, ChoiceFull) for e in errors), errors[:3]
    assert {(e.key, e.value, e.message) for e in errors} == {("workshop", "a", "Workshop A is full; choose another.")}
    rows, _ = _rows(sessions, event.id)
    assert sorted(r.id for r in rows) == sorted(o.registration_id for o in outcomes)
    with sessions() as session:
        assert places_taken(session, event.id) == {("workshop", "a"): 5}
        picks = session.scalars(select(ChoicePick.registration_id)).all()
    assert sorted(picks) == sorted(o.registration_id for o in outcomes)
    assert sorted(m.registration_id for m in outbox()) == sorted(o.registration_id for o in outcomes)

"""Choosing a conference's sessions: places held like seats (under the event's lock, freed
when a registration ends), a session's own waiting list promoted in order, overlaps refused
with both named, and choices that change until registration closes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.db import run_unit_of_work
from portal.errors import InvalidTransition, SessionChoiceProblem
from portal.models import AuditEntry, EventSession, Registration, RegistrationStatus, SessionChoice, SessionKind, SessionStatus
from portal.registrations import actions, choices, participants
from portal.registrations.actions import RosterAction
from portal.registrations.participants import Submission
from portal.registrations.seats import session_places_left, session_places_taken
from tests.conftest import future

# 02:00 UTC (10:00 in Singapore) in 30 days: eight hours on one local day at any hour of the run.
START = future(30).replace(hour=2, minute=0, second=0, microsecond=0)
from tests.registrations.test_race import _race

S = RegistrationStatus


@pytest.fixture
def make_session(run):  # type: ignore[no-untyped-def]
    """make_session(event, key, minutes_in=0, length=60, **overrides): a session to choose."""

    def _make(event, key, minutes_in=0, length=60, **overrides: Any) -> EventSession:  # type: ignore[no-untyped-def]
        values: dict[str, Any] = {
            "event_id": event.id, "key": key, "title": f"Workshop {key.upper()}", "kind": SessionKind.WORKSHOP,
            "starts_at": event.starts_at + timedelta(minutes=minutes_in),
            "ends_at": event.starts_at + timedelta(minutes=minutes_in + length),
            "room": f"Room {key}", "choose": True, "places": None, "waitlist": False,
        }
        values.update(overrides)

        def _add(session):  # type: ignore[no-untyped-def]
            made = EventSession(**values)
            session.add(made)
            session.flush()
            return made

        return run(_add)

    return _make


@pytest.fixture
def conference(make_event):  # type: ignore[no-untyped-def]
    return make_event(capacity=None, starts_at=START, ends_at=START + timedelta(hours=8), registration_closes_at=future(20))


@pytest.fixture
def register(run, site):  # type: ignore[no-untyped-def]
    def _register(event, email, sessions=(), **kw):  # type: ignore[no-untyped-def]
        return run(participants.register, site, event.slug, Submission(name="Ann Lee", email=email, sessions=tuple(sessions), **kw))

    return _register


@pytest.fixture
def chosen(sessions):  # type: ignore[no-untyped-def]
    """chosen(registration_id) -> {session key: waiting}."""

    def _chosen(registration_id):  # type: ignore[no-untyped-def]
        with sessions() as session:
            rows = session.execute(
                select(EventSession.key, SessionChoice.waiting).join(SessionChoice, SessionChoice.session_id == EventSession.id)
                .where(SessionChoice.registration_id == registration_id)
            ).all()
            return dict(rows)

    return _chosen


def _token(sessions, registration_id):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.get_one(Registration, registration_id).token


def test_registering_with_sessions_holds_their_places(conference, make_session, register, chosen, sessions):
    make_session(conference, "a", places=2)
    make_session(conference, "b", minutes_in=60)
    outcome = register(conference, "ann@example.org", sessions=["a", "b"])
    assert outcome.status == S.CONFIRMED
    assert chosen(outcome.registration_id) == {"a": False, "b": False}
    with sessions() as session:
        places = session_places_taken(session, conference.id)
    assert sorted(places.values()) == [1, 1]


def test_a_full_session_refuses_and_nothing_is_written(conference, make_session, register, sessions):
    make_session(conference, "a", places=1)
    register(conference, "first@example.org", sessions=["a"])
    with pytest.raises(SessionChoiceProblem) as refused:
        register(conference, "second@example.org", sessions=["a"])
    assert refused.value.message == "Workshop A is full; choose another."
    assert refused.value.keys == ("a",)
    with sessions() as session:
        emails = session.scalars(select(Registration.email)).all()
    assert emails == ["first@example.org"]


def test_two_overlapping_sessions_are_refused_naming_both(conference, make_session, register):
    make_session(conference, "a", minutes_in=0, length=90)
    make_session(conference, "b", minutes_in=60, length=60)
    make_session(conference, "c", minutes_in=90, length=60)  # starts as A ends: no overlap
    with pytest.raises(SessionChoiceProblem) as refused:
        register(conference, "ann@example.org", sessions=["b", "a"])
    assert refused.value.message == "Workshop A and Workshop B are at the same time; choose one of them."
    assert set(refused.value.keys) == {"a", "b"}
    assert register(conference, "ann@example.org", sessions=["a", "c"]).created


def test_unknown_cancelled_and_unchoosable_sessions_are_refused(conference, make_session, register):
    make_session(conference, "gone", status=SessionStatus.CANCELLED)
    make_session(conference, "keynote", choose=False, kind=SessionKind.KEYNOTE)
    with pytest.raises(SessionChoiceProblem, match="has been cancelled"):
        register(conference, "a@example.org", sessions=["gone"])
    for key in ("keynote", "no-such-session"):
        with pytest.raises(SessionChoiceProblem, match="cannot be chosen"):
            register(conference, "a@example.org", sessions=[key])


def test_a_full_session_with_a_waiting_list_queues_in_order_and_a_freed_place_goes_to_the_first(
    conference, make_session, register, chosen, run, site, sessions, outbox
):
    make_session(conference, "a", places=1, waitlist=True)
    holder = register(conference, "holder@example.org", sessions=["a"])
    first = register(conference, "first@example.org", sessions=["a"])
    second = register(conference, "second@example.org", sessions=["a"])
    assert chosen(first.registration_id) == {"a": True} and chosen(second.registration_id) == {"a": True}

    run(participants.cancel, site, _token(sessions, holder.registration_id))

    assert chosen(first.registration_id) == {"a": False}
    assert chosen(second.registration_id) == {"a": True}
    told = [m for m in outbox() if m.kind == "session_promoted"]
    assert [m.to_address for m in told] == ["first@example.org"]
    assert "Workshop A" in told[0].subject and "Room a" in told[0].body_text
    with sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.session_promote")).one()
    assert entry.registration_id == first.registration_id


def test_an_organiser_cancelling_a_registration_frees_its_session_places(
    conference, make_session, register, chosen, run, site, sessions, admin
):
    make_session(conference, "a", places=1, waitlist=True)
    holder = register(conference, "holder@example.org", sessions=["a"])
    waiting = register(conference, "waiting@example.org", sessions=["a"])
    run(actions.act_on_registrations, site, admin, conference.slug, RosterAction.CANCEL, [holder.registration_id])
    assert chosen(waiting.registration_id) == {"a": False}
    with sessions() as session:
        assert session_places_taken(session, conference.id) == {session.scalar(select(EventSession.id)): 1}


def test_approving_a_rejected_registration_again_needs_its_session_places_back(
    conference, make_session, register, chosen, run, site, sessions, admin
):
    """A rejection frees its session places (they go to others) but keeps its choices, so that
    approving it again takes them back: refused while a session it chose is full."""
    make_session(conference, "a", places=1)
    first = register(conference, "one@example.org", sessions=["a"])
    run(actions.act_on_registrations, site, admin, conference.slug, RosterAction.REJECT, [first.registration_id])
    second = register(conference, "two@example.org", sessions=["a"])
    assert chosen(second.registration_id) == {"a": False}
    report = run(actions.act_on_registrations, site, admin, conference.slug, RosterAction.APPROVE, [first.registration_id])
    [skipped] = report.skipped
    assert "the session “Workshop A” it chose has no place left" in skipped.problem
    with sessions() as session:
        assert list(session_places_taken(session, conference.id).values()) == [1]
        assert session.get_one(Registration, first.registration_id).status == RegistrationStatus.REJECTED
    # With the place given back to the session, the approval goes through and takes it.
    run(actions.act_on_registrations, site, admin, conference.slug, RosterAction.CANCEL, [second.registration_id])
    run(actions.act_on_registrations, site, admin, conference.slug, RosterAction.APPROVE, [first.registration_id])
    with sessions() as session:
        assert list(session_places_taken(session, conference.id).values()) == [1]
        assert session.get_one(Registration, first.registration_id).status == RegistrationStatus.CONFIRMED


def test_changing_sessions_takes_and_frees_places(conference, make_session, register, chosen, run, site, sessions):
    make_session(conference, "a", places=1, waitlist=True)
    make_session(conference, "b", places=5, minutes_in=120)
    ann = register(conference, "ann@example.org", sessions=["a"])
    bob = register(conference, "bob@example.org", sessions=["a"])
    assert chosen(bob.registration_id) == {"a": True}

    changed = run(choices.change_sessions, site, _token(sessions, ann.registration_id), ["b"])

    assert [s.key for s in changed.added] == ["b"] and [s.key for s in changed.dropped] == ["a"]
    assert chosen(ann.registration_id) == {"b": False}
    assert chosen(bob.registration_id) == {"a": False}  # the freed place went to the first waiting
    # Choosing again what one holds keeps it, even in a session now full.
    again = run(choices.change_sessions, site, _token(sessions, bob.registration_id), ["a", "b"])
    assert [s.key for s in again.added] == ["b"] and again.dropped == []
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.sessions")).all()
    assert len(entries) == 2


def test_sessions_cannot_change_once_registration_closes(make_event, make_session, register, run, site, sessions):
    event = make_event(capacity=None, starts_at=START, ends_at=START + timedelta(hours=8))
    make_session(event, "a")
    outcome = register(event, "ann@example.org", sessions=["a"])
    token = _token(sessions, outcome.registration_id)
    after_close = (event.registration_closes_at or event.starts_at) + timedelta(minutes=1)
    with pytest.raises(InvalidTransition, match="Registration for this event has closed"):
        run(choices.change_sessions, site, token, [], now=after_close)
    run(participants.cancel, site, token)
    with pytest.raises(InvalidTransition, match="no longer active"):
        run(choices.change_sessions, site, token, ["a"])


def test_the_manage_page_offers_the_sessions_with_places_in_words(conference, make_session, register, run, sessions):
    from portal.registrations import manage

    make_session(conference, "a", places=2)
    make_session(conference, "b", places=1, minutes_in=120)
    make_session(conference, "c", places=1, waitlist=True, minutes_in=240)
    other = register(conference, "other@example.org", sessions=["b", "c"])
    ann = register(conference, "ann@example.org", sessions=["a"])
    page = run(manage.manage_page, _token(sessions, ann.registration_id))
    by_key = {o.session.key: o for o in page.sessions}
    assert (by_key["a"].chosen, by_key["a"].left) == (True, 1)
    assert by_key["b"].full and by_key["b"].closed  # full, no waiting list: cannot be chosen
    assert by_key["c"].full and not by_key["c"].closed  # full, but its waiting list is open
    assert page.sessions_fixed is None
    assert other.created


def test_fifty_racing_for_a_session_with_five_places_five_get_it(database_url, conference, make_session, site, sessions):
    """The race test, extended to a session: each registration counts the session's places
    afresh under the event's lock, so exactly five hold one and the rest are refused with
    nothing written for them."""
    workshop = make_session(conference, "a", places=5)
    n = 50

    def call(factory, i):  # type: ignore[no-untyped-def]
        submission = Submission(name=f"Racer {i}", email=f"racer{i}@example.org", sessions=("a",))
        return run_unit_of_work(factory, participants.register, site, conference.slug, submission, write=True)

    outcomes, errors = _race(database_url, n, call)

    assert len(outcomes) == 5 and all(o.created for o in outcomes)
    assert len(errors) == n - 5 and all(isinstance(e, SessionChoiceProblem) for e in errors), errors[:3]
    with sessions() as session:
        assert session_places_taken(session, conference.id) == {workshop.id: 5}
        holders = session.scalars(select(SessionChoice.registration_id)).all()
        assert session.scalar(select(Registration.id).where(Registration.id.not_in(holders))) is None
    assert sorted(holders) == sorted(o.registration_id for o in outcomes)


def test_racing_for_a_session_with_a_waiting_list_queues_the_rest(database_url, conference, make_session, site, sessions):
    workshop = make_session(conference, "a", places=3, waitlist=True)
    n = 20

    def call(factory, i):  # type: ignore[no-untyped-def]
        submission = Submission(name=f"Racer {i}", email=f"racer{i}@example.org", sessions=("a",))
        return run_unit_of_work(factory, participants.register, site, conference.slug, submission, write=True)

    outcomes, errors = _race(database_url, n, call)

    assert errors == [] and len(outcomes) == n
    with sessions() as session:
        rows = session.scalars(select(SessionChoice).where(SessionChoice.session_id == workshop.id)).all()
    assert sum(not r.waiting for r in rows) == 3
    assert sum(r.waiting for r in rows) == n - 3


def test_the_confirmation_lists_the_sessions_chosen(conference, make_session, register, outbox):
    make_session(conference, "a", places=1, waitlist=True)
    make_session(conference, "b", minutes_in=120, room="Hall 2")
    register(conference, "first@example.org", sessions=["a"])
    register(conference, "ann@example.org", sessions=["b", "a"])
    message = [m for m in outbox() if m.to_address == "ann@example.org"][-1]
    assert message.kind == "confirmed"
    text = message.body_text
    assert "Your sessions:" in text
    assert text.index("Workshop A") < text.index("Workshop B")  # in time order
    assert "Workshop A: " in text and "(on its waiting list)" in text.split("Workshop A")[1].split("\n")[0]
    assert "Hall 2" in text and "Your sessions" in message.body_html


def test_places_left_never_go_below_none_and_no_limit_is_none():
    """seats.session_places_left, which every page and roster counts a session's places with."""
    assert session_places_left(EventSession(places=5), 3) == 2
    assert session_places_left(EventSession(places=2), 5) == 0  # places lowered under those holding them
    assert session_places_left(EventSession(places=None), 40) is None

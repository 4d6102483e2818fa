"""The registration rules, at the service level: who gets a seat, who waits, who is pending."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.db import utcnow
from portal.errors import EventFull, InvalidTransition, NotFound, RegistrationClosed
from portal.models import Admission, EventStatus, OutboxMessage, Registration, RegistrationStatus
from portal.registrations import participants
from portal.registrations.participants import Submission, new_token
from tests.conftest import future

S = RegistrationStatus


@pytest.fixture
def register(run, site):  # type: ignore[no-untyped-def]
    """register(event, email, name=..., **kw) -> Outcome, through the service in one transaction."""

    def _register(event, email, name="Ann Lee", **kw):  # type: ignore[no-untyped-def]
        return run(participants.register, site, event.slug, Submission(name=name, email=email, **kw))

    return _register


@pytest.fixture
def rows(sessions):  # type: ignore[no-untyped-def]
    """rows(event): the event's registrations, oldest first."""

    def _rows(event):  # type: ignore[no-untyped-def]
        with sessions() as session:
            return list(session.scalars(select(Registration).where(Registration.event_id == event.id).order_by(Registration.id)))

    return _rows


@pytest.fixture
def position(sessions):  # type: ignore[no-untyped-def]
    def _position(registration_id):  # type: ignore[no-untyped-def]
        with sessions() as session:
            return participants.waitlist_position(session, session.get_one(Registration, registration_id))

    return _position


def kinds_to(outbox, email):  # type: ignore[no-untyped-def]
    return [m.kind for m in outbox() if m.to_address == email]


# --- admission ------------------------------------------------------------------------------


def test_open_admission_confirms_while_seats_remain(make_event, register, rows, outbox):
    event = make_event(capacity=3)
    outcomes = [register(event, f"p{i}@example.org") for i in range(3)]
    assert [o.status for o in outcomes] == [S.CONFIRMED] * 3
    assert all(o.created for o in outcomes)
    assert [r.status for r in rows(event)] == [S.CONFIRMED] * 3
    assert all(r.confirmed_at is not None and r.waitlisted_at is None for r in rows(event))
    assert kinds_to(outbox, "p0@example.org") == ["confirmed"]


def test_full_event_waitlists_in_order(make_event, register, rows, position, outbox):
    event = make_event(capacity=2)
    register(event, "a@example.org")
    register(event, "b@example.org")
    waiting = [register(event, f"w{i}@example.org") for i in range(1, 4)]

    assert [o.status for o in waiting] == [S.WAITLISTED] * 3
    assert [position(o.registration_id) for o in waiting] == [1, 2, 3]
    statuses = [r.status for r in rows(event)]
    assert statuses.count(S.CONFIRMED) == 2 and statuses.count(S.WAITLISTED) == 3
    assert kinds_to(outbox, "w3@example.org") == ["waitlisted"]
    # The waiting-list email tells the participant where they stand.
    body = [m.body_text for m in outbox() if m.to_address == "w3@example.org"][0]
    assert "position 3" in body


def test_full_event_without_waitlist_raises_event_full(make_event, register, rows):
    event = make_event(capacity=1, waitlist=False)
    register(event, "a@example.org")
    with pytest.raises(EventFull):
        register(event, "b@example.org")
    assert [r.email for r in rows(event)] == ["a@example.org"]


@pytest.mark.parametrize("admission", [Admission.APPLICATION, Admission.NOMINATION])
def test_application_and_nomination_start_as_pending(admission, make_programme, make_event, register, rows, outbox):
    programme = make_programme(admission=admission)
    event = make_event(programme_id=programme.id, capacity=1)
    first = register(event, "a@example.org")
    second = register(event, "b@example.org")  # beyond capacity: still pending, not waitlisted
    assert (first.status, second.status) == (S.PENDING, S.PENDING)
    assert [r.status for r in rows(event)] == [S.PENDING, S.PENDING]
    assert all(r.confirmed_at is None for r in rows(event))
    assert kinds_to(outbox, "a@example.org") == ["received"]


def test_unlimited_capacity_always_confirms(make_event, register, rows):
    event = make_event(capacity=None, waitlist=False)
    outcomes = [register(event, f"p{i}@example.org") for i in range(25)]
    assert {o.status for o in outcomes} == {S.CONFIRMED}
    assert len(rows(event)) == 25


# --- when registration is open -----------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(lambda: {"status": EventStatus.DRAFT, "published_at": None}, id="draft"),
        pytest.param(lambda: {"status": EventStatus.CANCELLED}, id="cancelled"),
        pytest.param(lambda: {"registration_opens_at": future(5)}, id="before-window"),
        pytest.param(
            lambda: {"registration_opens_at": future(-10), "registration_closes_at": future(-1)}, id="after-window"
        ),
        pytest.param(lambda: {"starts_at": future(-1), "ends_at": future(1)}, id="started"),
        pytest.param(lambda: {"starts_at": future(-3), "ends_at": future(-2)}, id="past"),
    ],
)
def test_closed_events_refuse_registration(overrides, make_event, register, rows, outbox):
    event = make_event(**overrides())
    with pytest.raises(RegistrationClosed):
        register(event, "a@example.org")
    assert rows(event) == []
    assert outbox() == []


def test_window_edges(make_event, register):
    """Open from registration_opens_at (inclusive) to registration_closes_at (exclusive)."""
    now = utcnow()
    event = make_event(registration_opens_at=now - timedelta(seconds=1), registration_closes_at=now + timedelta(days=1))
    assert register(event, "a@example.org").status == S.CONFIRMED


def test_unknown_slug_is_not_found(run, site):
    with pytest.raises(NotFound):
        run(participants.register, site, "no-such-event", Submission(name="Ann", email="a@example.org"))


# --- the same email twice ------------------------------------------------------------------


@pytest.mark.parametrize("again", ["ann@example.org", "ANN@Example.ORG", "  Ann@example.org \t"])
def test_same_email_twice_creates_nothing_and_emails_the_same_link(again, make_event, register, rows, outbox, manage_link):
    event = make_event()
    first = register(event, "Ann@Example.org")
    token = manage_link("ann@example.org")
    before = len(outbox())

    second = register(event, again, name="Someone Else")

    assert second.created is False
    assert second.registration_id == first.registration_id
    assert second.status == first.status
    [row] = rows(event)
    assert row.email == "ann@example.org"
    assert row.name == "Ann Lee"  # not overwritten by the second submission
    messages = outbox()
    assert len(messages) == before + 1
    assert messages[-1].kind == "already_registered"
    assert messages[-1].to_address == "ann@example.org"
    assert manage_link("ann@example.org") == token == row.token


def test_same_email_on_another_event_is_a_new_registration(make_event, register):
    one, two = make_event(), make_event()
    assert register(one, "a@example.org").created
    assert register(two, "a@example.org").created


def test_a_cancelled_registration_frees_the_email(make_event, register, rows, run, site):
    event = make_event()
    register(event, "ann@example.org")
    run(participants.cancel, site, rows(event)[0].token)
    again = register(event, "ann@example.org")
    assert again.created and again.status == S.CONFIRMED
    assert [r.status for r in rows(event)] == [S.CANCELLED, S.CONFIRMED]
    assert rows(event)[0].token != rows(event)[1].token


# --- cancelling and the waiting list -------------------------------------------------------


def test_cancelling_a_confirmed_seat_promotes_the_first_waitlisted(make_event, make_registration, run, site, rows, outbox, position):
    event = make_event(capacity=2)
    seat = make_registration(event, email="seat@example.org")
    make_registration(event)
    now = utcnow()
    # Created in the reverse of queue order, so that "first" cannot mean "lowest id".
    third = make_registration(event, email="third@example.org", status=S.WAITLISTED, waitlisted_at=now - timedelta(minutes=1))
    second = make_registration(event, email="second@example.org", status=S.WAITLISTED, waitlisted_at=now - timedelta(minutes=2))
    first = make_registration(event, email="first@example.org", status=S.WAITLISTED, waitlisted_at=now - timedelta(minutes=3))
    assert [position(r.id) for r in (first, second, third)] == [1, 2, 3]

    run(participants.cancel, site, seat.token)

    by_id = {r.id: r for r in rows(event)}
    assert by_id[seat.id].status == S.CANCELLED
    assert by_id[first.id].status == S.CONFIRMED
    assert by_id[first.id].confirmed_at is not None
    assert by_id[second.id].status == S.WAITLISTED
    assert by_id[third.id].status == S.WAITLISTED
    assert [position(r.id) for r in (second, third)] == [1, 2]
    assert sum(r.status == S.CONFIRMED for r in by_id.values()) == 2
    promoted = [m for m in outbox() if m.kind == "promoted"]
    assert [m.to_address for m in promoted] == ["first@example.org"]
    assert first.token in promoted[0].body_text
    assert kinds_to(outbox, "seat@example.org") == ["cancelled"]


def test_cancelling_a_waitlisted_place_promotes_nobody(make_event, make_registration, run, site, rows, outbox, position):
    event = make_event(capacity=1)
    make_registration(event)
    now = utcnow()
    w1 = make_registration(event, status=S.WAITLISTED, waitlisted_at=now - timedelta(minutes=2))
    w2 = make_registration(event, status=S.WAITLISTED, waitlisted_at=now - timedelta(minutes=1))

    run(participants.cancel, site, w1.token)

    statuses = {r.id: r.status for r in rows(event)}
    assert statuses[w1.id] == S.CANCELLED
    assert statuses[w2.id] == S.WAITLISTED
    assert position(w2.id) == 1
    assert list(statuses.values()).count(S.CONFIRMED) == 1
    assert not [m for m in outbox() if m.kind == "promoted"]


def test_cancelling_a_pending_application_promotes_nobody(make_programme, make_event, make_registration, run, site, rows, outbox):
    programme = make_programme(admission=Admission.APPLICATION)
    event = make_event(programme_id=programme.id, capacity=1)
    make_registration(event)
    waiting = make_registration(event, status=S.WAITLISTED)
    pending = make_registration(event, status=S.PENDING, confirmed_at=None)

    run(participants.cancel, site, pending.token)

    statuses = {r.id: r.status for r in rows(event)}
    assert statuses[pending.id] == S.CANCELLED
    assert statuses[waiting.id] == S.WAITLISTED
    assert not [m for m in outbox() if m.kind == "promoted"]


def test_cancelling_twice_is_an_invalid_transition(make_event, make_registration, run, site, rows, outbox):
    event = make_event(capacity=1)
    seat = make_registration(event)
    waiting = make_registration(event, status=S.WAITLISTED)
    run(participants.cancel, site, seat.token)
    sent = len(outbox())
    with pytest.raises(InvalidTransition):
        run(participants.cancel, site, seat.token)
    assert len(outbox()) == sent
    statuses = {r.id: r.status for r in rows(event)}
    assert statuses == {seat.id: S.CANCELLED, waiting.id: S.CONFIRMED}


def test_cancelling_after_the_start_is_refused(make_event, make_registration, run, site, rows):
    event = make_event(starts_at=future(-1), ends_at=future(1))
    seat = make_registration(event)
    with pytest.raises(InvalidTransition):
        run(participants.cancel, site, seat.token)
    assert rows(event)[0].status == S.CONFIRMED


# --- details and tokens ------------------------------------------------------------------------


def test_update_details_changes_name_organisation_answers_but_not_email(make_event, register, rows, run):
    event = make_event()
    register(event, "ann@example.org", organisation="Old Org", answers={"position": "Analyst"})
    token = rows(event)[0].token

    run(
        participants.update_details,
        token,
        Submission(name="  Ann B. Lee ", email="mallory@example.org", organisation="New Org", answers={"position": "Director"}),
    )

    [row] = rows(event)
    assert row.name == "Ann B. Lee"
    assert row.organisation == "New Org"
    assert row.answers == {"position": "Director"}
    assert row.email == "ann@example.org"
    assert row.token == token


def test_update_details_of_a_cancelled_registration_is_refused(make_event, make_registration, run, site, rows):
    event = make_event()
    r = make_registration(event, name="Ann")
    run(participants.cancel, site, r.token)
    with pytest.raises(InvalidTransition):
        run(participants.update_details, r.token, Submission(name="Changed", email=r.email))
    assert rows(event)[0].name == "Ann"


@pytest.mark.parametrize("token", ["", "nope", "x" * 43, "A" * 65, "A" * 10_000, "\x00", "abc\x00def"])
def test_find_by_token_rejects_unknown_empty_and_long_tokens(token, make_event, make_registration, run):
    make_registration(make_event())
    with pytest.raises(NotFound):
        run(participants.find_by_token, token)


def test_find_by_token_finds_the_registration(make_event, make_registration, run):
    event = make_event()
    make_registration(event)
    r = make_registration(event)
    assert run(participants.find_by_token, r.token).id == r.id
    with pytest.raises(NotFound):
        run(participants.find_by_token, r.token[:-1])


def test_tokens_are_long_urlsafe_and_distinct(make_event, register, rows):
    event = make_event(capacity=None)
    for i in range(20):
        register(event, f"p{i}@example.org")
    tokens = [r.token for r in rows(event)] + [new_token() for _ in range(200)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        # 43 urlsafe base64 characters carry 258 bits; at least 128 are required.
        assert re.fullmatch(r"[A-Za-z0-9_\-]{43,}", token), token


def test_capacity_is_counted_per_event(make_event, make_registration, register, sessions):
    busy = make_event(capacity=2)
    for _ in range(2):
        make_registration(busy)
    quiet = make_event(capacity=1)
    assert register(quiet, "a@example.org").status == S.CONFIRMED
    assert register(busy, "b@example.org").status == S.WAITLISTED
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(OutboxMessage))
    assert total == 2


def test_details_cannot_change_once_the_event_has_started(run, make_event, make_registration):
    event = make_event(starts_at=future(-1), ends_at=future(1))
    person = make_registration(event, status=RegistrationStatus.CONFIRMED, name="Before")
    with pytest.raises(InvalidTransition, match="has started"):
        run(participants.update_details, person.token, Submission("After", person.email))

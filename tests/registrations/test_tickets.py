"""Tickets at the service level: a check-in code is given exactly when a registration is
confirmed, by whichever path, and kept; the code reads forgivingly when typed, and is
neither the manage token nor accepted in its place."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.errors import NotFound
from portal.models import Admission, Registration
from portal.models import RegistrationStatus as S
from portal.registrations import participants, tickets
from portal.registrations.actions import RosterAction as A
from portal.registrations.actions import act_on_registration, act_on_registrations
from portal.registrations.participants import Submission, new_token
from portal.registrations.tickets import (
    ALPHABET,
    code_from_payload,
    display_code,
    give_code,
    new_code,
    normalise_code,
    payload,
)

CODE = re.compile(r"^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{10}$")


@pytest.fixture
def register(run, site):  # type: ignore[no-untyped-def]
    def _register(event, email, name="Ann Lee"):  # type: ignore[no-untyped-def]
        return run(participants.register, site, event.slug, Submission(name=name, email=email))

    return _register


@pytest.fixture
def actor(make_organiser):  # type: ignore[no-untyped-def]
    return make_organiser("door@example.org", name="Dora Door")


@pytest.fixture
def reload(sessions):  # type: ignore[no-untyped-def]
    """reload(id or registration): the registration as the database has it now."""

    def _reload(which):  # type: ignore[no-untyped-def]
        with sessions() as session:
            return session.get_one(Registration, getattr(which, "id", which))

    return _reload


def by_email(sessions, email):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalars(select(Registration).where(Registration.email == email)).one()


# --- the code itself ---------------------------------------------------------------------------


def test_a_new_code_is_ten_characters_of_crockford_base_32_and_random():
    assert ALPHABET == "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    codes = {new_code() for _ in range(2000)}
    assert all(CODE.match(c) for c in codes)
    # 50 bits: two thousand draws never repeat, and every character of the alphabet is drawn.
    assert len(codes) == 2000
    assert set("".join(codes)) == set(ALPHABET)


def test_a_code_reads_as_two_groups_and_the_qr_holds_it_behind_the_portal_s_prefix():
    assert display_code("7K3QX2M49D") == "7K3QX-2M49D"
    assert payload("7K3QX2M49D") == "PTK1:7K3QX2M49D"
    for _ in range(50):
        code = new_code()
        assert normalise_code(display_code(code)) == code
        assert code_from_payload(payload(code)) == code


@pytest.mark.parametrize("typed", [
    "7K3QX2M49D", "7k3qx2m49d", "7K3QX-2M49D", " 7K3QX 2M49D ", "7K3-QX2-M49D",
    "7K3QX\t2M49D\n",
])
def test_typing_mistakes_that_keep_the_code_are_forgiven(typed):
    assert normalise_code(typed) == "7K3QX2M49D"


def test_letters_that_look_like_digits_are_read_as_the_digits():
    # I and L are read as 1, O as 0: the alphabet has none of them.
    assert normalise_code("IL0O0-ABCDE") == "11000ABCDE"
    assert normalise_code("il0o0abcde") == "11000ABCDE"


@pytest.mark.parametrize("garbage", [
    "", "   ", "7K3QX2M49", "7K3QX2M49DD", "7K3QX2M4U9",  # U is not in the alphabet
    "7K3QX_2M49D", "7K3QX.2M49D", "PTK1:7K3QX2M49D", "https://example.org/x", "7K3QX2M49D" * 10,
    "７K3QX2M49D",  # a full-width digit
    "DROP TABLE;", "\x007K3QX2M49D",
])
def test_what_cannot_be_a_code_is_refused(garbage):
    assert normalise_code(garbage) is None


@pytest.mark.parametrize("scanned", [
    "", "7K3QX2M49D", "PTK2:7K3QX2M49D", "PTK1:", "PTK1:7K3QX2M49", "https://events.example.org/registrations/x",
    "WIFI:S:venue;T:WPA;P:secret;;", "PTK1:7K3QX2M49DX",
])
def test_a_scan_that_is_not_one_of_the_portal_s_tickets_holds_no_code(scanned):
    assert code_from_payload(scanned) is None


def test_the_manage_token_is_not_a_code_and_a_code_is_not_a_token(run, site, make_event, register, sessions):
    event = make_event()
    register(event, "ann@example.org")
    registration = by_email(sessions, "ann@example.org")
    assert CODE.match(registration.checkin_code)
    assert registration.checkin_code != registration.token
    # A manage token, typed or in a QR code, is no check-in code...
    assert normalise_code(registration.token) is None
    assert code_from_payload(payload(registration.token)) is None
    # ...and the check-in code opens no registration.
    for text in (registration.checkin_code, display_code(registration.checkin_code), payload(registration.checkin_code)):
        with pytest.raises(NotFound):
            run(participants.find_by_token, text)


# --- given exactly when confirmed --------------------------------------------------------------


def test_registering_with_a_free_seat_gives_a_code_and_waiting_or_pending_gives_none(
    make_event, make_programme, register, sessions
):
    event = make_event(capacity=1, waitlist=True)
    register(event, "first@example.org")
    register(event, "second@example.org")
    first, second = by_email(sessions, "first@example.org"), by_email(sessions, "second@example.org")
    assert (first.status, second.status) == (S.CONFIRMED, S.WAITLISTED)
    assert CODE.match(first.checkin_code)
    assert second.checkin_code is None

    application = make_event(programme_id=make_programme(admission=Admission.APPLICATION).id)
    register(application, "applicant@example.org")
    applicant = by_email(sessions, "applicant@example.org")
    assert applicant.status == S.PENDING and applicant.checkin_code is None


def test_a_seat_freed_by_a_cancellation_gives_the_next_in_line_a_code_with_the_promotion_email(
    run, site, make_event, register, sessions, reload, outbox
):
    event = make_event(capacity=1, waitlist=True)
    register(event, "first@example.org")
    register(event, "second@example.org")
    register(event, "third@example.org")
    first = by_email(sessions, "first@example.org")
    run(participants.cancel, site, first.token)

    second, third = by_email(sessions, "second@example.org"), by_email(sessions, "third@example.org")
    assert second.status == S.CONFIRMED and CODE.match(second.checkin_code)
    assert third.status == S.WAITLISTED and third.checkin_code is None
    (promoted,) = [m for m in outbox() if m.kind == "promoted"]
    assert promoted.to_address == "second@example.org"
    assert display_code(second.checkin_code) in promoted.body_text
    # The cancelled registration keeps its code: the door refuses it by its status.
    assert reload(first).checkin_code == first.checkin_code


def test_an_organiser_s_approval_gives_a_code_only_with_a_seat(run, site, actor, make_programme, make_event, make_registration, reload):
    event = make_event(capacity=1, programme_id=make_programme(admission=Admission.APPLICATION).id)
    first = make_registration(event, status=S.PENDING, confirmed_at=None)
    second = make_registration(event, status=S.PENDING, confirmed_at=None)
    run(act_on_registrations, site, actor, event.slug, A.APPROVE, [first.id, second.id])
    first, second = reload(first), reload(second)
    assert (first.status, second.status) == (S.CONFIRMED, S.WAITLISTED)
    assert CODE.match(first.checkin_code)
    assert second.checkin_code is None  # approved, but waiting for a seat: no ticket yet


def test_an_organiser_s_promotion_gives_a_code(run, site, actor, make_event, make_registration, reload):
    event = make_event(capacity=2)
    waiting = make_registration(event, status=S.WAITLISTED)
    run(act_on_registration, site, actor, waiting.id, A.PROMOTE)
    assert reload(waiting).status == S.CONFIRMED
    assert CODE.match(reload(waiting).checkin_code)


def test_a_code_once_given_is_kept_through_the_waiting_list_and_back(run, site, actor, make_event, register, sessions, reload):
    event = make_event(capacity=1, waitlist=True)
    register(event, "first@example.org")
    register(event, "second@example.org")
    first = by_email(sessions, "first@example.org")
    code = first.checkin_code
    # Sent back to the waiting list (the seat goes to the other), then given a seat again.
    run(act_on_registration, site, actor, first.id, A.WAITLIST)
    second = by_email(sessions, "second@example.org")
    assert reload(first).status == S.WAITLISTED and reload(first).checkin_code == code
    run(act_on_registration, site, actor, second.id, A.CANCEL)
    assert reload(first).status == S.CONFIRMED
    assert reload(first).checkin_code == code  # the ticket already sent stays valid


def test_every_confirmed_registration_gets_its_own_code(make_event, register, sessions):
    event = make_event(capacity=None)
    for i in range(40):
        register(event, f"p{i}@example.org")
    with sessions() as session:
        codes = list(session.scalars(select(Registration.checkin_code).where(Registration.event_id == event.id)))
    assert len(codes) == 40 and all(CODE.match(c) for c in codes) and len(set(codes)) == 40


def test_a_code_already_taken_is_drawn_again(run, make_event, make_registration, monkeypatch):
    event = make_event()
    taken = make_registration(event, checkin_code="7K3QX2M49D")
    fresh = iter(["7K3QX2M49D", "7K3QX2M49D", "ABCDE12345"])
    monkeypatch.setattr(tickets, "new_code", lambda: next(fresh))
    newcomer = make_registration(event, status=S.WAITLISTED)

    def _confirm(session):  # type: ignore[no-untyped-def]
        registration = session.get_one(Registration, newcomer.id)
        return give_code(registration), give_code(session.get_one(Registration, taken.id))

    assert run(_confirm) == ("ABCDE12345", "7K3QX2M49D")  # and one that has a code keeps it


def test_a_registration_made_directly_is_given_a_code_without_a_session(monkeypatch):
    registration = Registration(status=S.CONFIRMED, token=new_token())
    assert CODE.match(give_code(registration)) and registration.checkin_code == give_code(registration)

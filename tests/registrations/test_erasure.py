"""A participant's erasure of their address: what each registration comes to (cancelled and
anonymised, anonymised, or a completed programme's attendance kept), seats and the waiting
list as a cancellation leaves them, no email to the erased person, an audit without their
data, the old link saying it was erased; and erasure racing a registration or a promotion."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.db import run_unit_of_work, utcnow
from portal.errors import NotFound, RegistrationErased
from portal.models import (
    AuditEntry,
    Certificate,
    CheckIn,
    Frequency,
    OutboxMessage,
    Registration,
    RegistrationNote,
    RegistrationStatus,
    Subscriber,
    Upload,
)
from portal.registrations import erasure, owndata, participants, retention
from portal.registrations.anonymise import ANONYMISED_NAME
from portal.registrations.erasure import KEPT_REASON, Outcome
from portal.registrations.participants import Submission, new_token
from portal.text import Period
from tests.registrations.test_race import _race

S = RegistrationStatus


@pytest.fixture
def past_event(make_event):  # type: ignore[no-untyped-def]
    def _make(**overrides):  # type: ignore[no-untyped-def]
        starts = (utcnow() - timedelta(days=40)).replace(hour=2, minute=0, second=0, microsecond=0)
        return make_event(starts_at=starts, ends_at=starts + timedelta(hours=2), **overrides)

    return _make


def _row(sessions, registration_id):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.get_one(Registration, registration_id)


def _confirmed(sessions, event_id):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Registration).where(
            Registration.event_id == event_id, Registration.status == S.CONFIRMED)) or 0


def test_the_plan_says_what_happens_to_each_registration(run, make_event, past_event, make_registration):
    email = "ada@example.org"
    coming = make_registration(make_event(), email=email)
    attended = make_registration(past_event(), email=email, checked_in_at=utcnow() - timedelta(days=40))
    absent = make_registration(past_event(), email=email)
    cancelled = make_registration(make_event(), email=email, status=S.CANCELLED)
    stranger = make_registration(make_event(), email="someone@example.org")

    plan = run(erasure.plan, coming.token)

    outcomes = {step.registration_id: step.outcome for step in plan.steps}
    assert outcomes == {
        coming.id: Outcome.CANCEL, attended.id: Outcome.KEEP, absent.id: Outcome.ANONYMISE, cancelled.id: Outcome.ANONYMISE,
    }
    assert stranger.id not in outcomes and plan.subscription is False


def test_a_certificate_alone_keeps_the_attendance(run, past_event, make_registration):
    registration = make_registration(past_event())

    def give(session):  # type: ignore[no-untyped-def]
        session.add(Certificate(code="CERT-1", registration_id=registration.id, event_id=registration.event_id, shows={"name": "x"}))

    run(give)
    [step] = run(erasure.plan, registration.token).steps
    assert step.outcome == Outcome.KEEP


def test_erasing_cancels_frees_the_seat_promotes_and_removes_the_data(run, sessions, site, make_event, outbox):
    event = make_event(capacity=1, waitlist=True)
    mine = run(participants.register, site, event.slug, Submission(name="Ada Lovelace", email="ada@example.org", organisation="RSIS"))
    waiting = run(participants.register, site, event.slug, Submission(name="Bob Next", email="bob@example.org"))
    assert waiting.status == S.WAITLISTED
    token = _row(sessions, mine.registration_id).token

    def note(session):  # type: ignore[no-untyped-def]
        session.add(RegistrationNote(registration_id=mine.registration_id, text="Ada asked for a vegetarian lunch"))
        session.add(Upload(
            stored_name="stored-cv", registration_id=mine.registration_id, event_id=event.id, question_key="cv",
            filename="ada-cv.pdf", content_type="application/pdf", size=10,
        ))

    run(note)
    before = max(m.id for m in outbox())

    done = run(erasure.erase, site, token)

    assert [s.outcome for s in done.steps] == [Outcome.CANCEL]
    assert done.stored_files == ("stored-cv",)
    row = _row(sessions, mine.registration_id)
    assert row.status == S.CANCELLED and row.anonymised_at is not None
    assert row.name == ANONYMISED_NAME and row.organisation == "" and "ada" not in row.email
    assert row.token != token and row.kept_reason == ""
    assert _row(sessions, waiting.registration_id).status == S.CONFIRMED
    assert _confirmed(sessions, event.id) == 1
    with sessions() as session:
        assert session.scalars(select(RegistrationNote)).all() == []
        assert session.scalars(select(Upload)).all() == []
    # The promoted person hears of their seat; the erased one is sent nothing, and the
    # messages to them are gone.
    new = [m for m in outbox() if m.id > before]
    assert [m.to_address for m in new] == ["bob@example.org"]
    assert all(m.to_address != "ada@example.org" for m in outbox())


def test_the_audit_says_what_was_done_and_nothing_of_the_person(run, sessions, site, make_event):
    event = make_event()
    mine = run(participants.register, site, event.slug, Submission(name="Ada Lovelace", email="ada@example.org", organisation="RSIS"))
    token = _row(sessions, mine.registration_id).token
    run(participants.update_details, token, Submission(name="Ada King", email="ada@example.org", organisation="RSIS Singapore"))

    run(erasure.erase, site, token)

    with sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.registration_id == mine.registration_id)).all()
    actions = [e.action for e in entries]
    assert "registration.erase" in actions and "registration.cancel" in actions
    erase = next(e for e in entries if e.action == "registration.erase")
    assert erase.actor == "participant"
    text = json.dumps([[e.before, e.after] for e in entries])
    for personal in ("Ada", "ada@example.org", "RSIS", "King"):
        assert personal not in text


def test_a_completed_programmes_attendance_is_kept_with_its_reason(run, sessions, site, past_event, make_registration):
    event = past_event()
    registration = make_registration(
        event, email="ada@example.org", name="Ada Lovelace", organisation="RSIS", answers={"diet": "none"},
        checked_in_at=event.starts_at,
    )

    def attend(session):  # type: ignore[no-untyped-def]
        session.add(CheckIn(event_id=event.id, registration_id=registration.id, day=event.starts_at.date(), at=event.starts_at))
        session.add(Certificate(code="CERT-KEPT", registration_id=registration.id, event_id=event.id, shows={"name": "Ada Lovelace"}))

    run(attend)

    done = run(erasure.erase, site, registration.token)

    assert [s.outcome for s in done.steps] == [Outcome.KEEP]
    row = _row(sessions, registration.id)
    assert (row.name, row.organisation, row.status) == ("Ada Lovelace", "RSIS", S.CONFIRMED)
    assert row.kept_reason == KEPT_REASON and row.anonymised_at is not None
    assert "ada" not in row.email and row.answers == {}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.registration_id == registration.id)) == 1
        assert session.scalar(select(Certificate.registration_id).where(Certificate.code == "CERT-KEPT")) == registration.id


def test_a_kept_attendance_goes_too_when_the_retention_period_ends(run, sessions, site, settings, past_event, make_registration):
    event = past_event()
    registration = make_registration(event, email="ada@example.org", name="Ada Lovelace", checked_in_at=event.starts_at)
    run(lambda session: session.add(CheckIn(event_id=event.id, registration_id=registration.id, day=event.starts_at.date(), at=event.starts_at)))
    run(erasure.erase, site, registration.token)
    assert _row(sessions, registration.id).name == "Ada Lovelace"

    # Kept as the programme's record while its period lasts; removed like the rest after it.
    period = Period(days=10)  # the event ended forty days ago
    assert [d.count for d in run(retention.due_counts, utcnow(), period)] == [1]
    retention.run_retention(sessions, period, settings.upload_directory)
    row = _row(sessions, registration.id)
    assert (row.name, row.kept_reason) == (ANONYMISED_NAME, "")
    assert run(retention.due_counts, utcnow(), period) == []


def test_the_old_link_says_it_was_erased_and_opens_nothing(run, site, make_event, make_registration):
    registration = make_registration(make_event())
    run(erasure.erase, site, registration.token)

    with pytest.raises(RegistrationErased) as raised:
        run(participants.find_by_token, registration.token)
    assert "erased" in raised.value.message
    with pytest.raises(RegistrationErased):
        run(erasure.erase, site, registration.token)
    # An unknown link is still the ordinary not found.
    with pytest.raises(NotFound) as other:
        run(participants.find_by_token, new_token())
    assert not isinstance(other.value, RegistrationErased)


def test_the_subscription_of_the_address_goes_too(run, sessions, site, make_event, make_registration):
    registration = make_registration(make_event(), email="ada@example.org")

    def subscribe(session):  # type: ignore[no-untyped-def]
        session.add(Subscriber(email="ada@example.org", token=new_token(), frequency=Frequency.EACH, programmes=[], categories=[]))
        # An announcement still queued for the subscription.
        session.add(OutboxMessage(kind="announce", to_address="ada@example.org", subject="New event", body_text="x", attachments=[]))

    run(subscribe)
    assert run(erasure.plan, registration.token).subscription is True
    done = run(erasure.erase, site, registration.token)
    assert done.subscription is True
    with sessions() as session:
        assert session.scalars(select(Subscriber)).all() == []
        assert session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "ada@example.org")).all() == []
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "subscriber.erase")) == 1


def test_own_data_lists_every_registration_of_the_address_and_how_long_it_is_kept(run, make_event, make_programme, make_registration):
    programme = make_programme(retention="P6M")
    starts = utcnow().replace(microsecond=0) + timedelta(days=30)
    event = make_event(programme_id=programme.id, starts_at=starts, ends_at=starts + timedelta(hours=2))
    mine = make_registration(event, email="ada@example.org", answers={"rank": "Major"})
    other = make_registration(make_event(), email="ada@example.org")
    make_registration(make_event(), email="someone@example.org")

    data = run(owndata.own_data, mine.token, retention=Period(months=24))

    assert [h.registration.id for h in data.registrations] == [mine.id, other.id]
    assert [h.own for h in data.registrations] == [True, False]
    assert [(a.key, a.words) for a in data.registrations[0].answers] == [("rank", "Major")]
    kept = data.registrations[0].kept
    assert kept.period == Period(months=6) and kept.kept_until == Period(months=6).after(retention.last_day(event))
    assert data.registrations[1].kept.period == Period(months=24)


# --- races ------------------------------------------------------------------------------------


def _consistent(sessions, event_id):  # type: ignore[no-untyped-def]
    """Every row either wholly anonymised or untouched; the seats as the rows say."""
    with sessions() as session:
        rows = session.scalars(select(Registration).where(Registration.event_id == event_id)).all()
        for r in rows:
            if r.anonymised_at is not None:
                assert r.name == ANONYMISED_NAME and r.email.endswith(".invalid") and r.status not in (S.CONFIRMED, S.WAITLISTED)
            else:
                assert r.name != ANONYMISED_NAME and not r.email.endswith(".invalid")
        return list(rows)


@pytest.mark.parametrize("attempt", range(3))
def test_an_erasure_racing_a_registration_of_the_same_address_loses_nothing(attempt, database_url, run, sessions, site, make_event):
    event = make_event(capacity=1, waitlist=True)
    mine = run(participants.register, site, event.slug, Submission(name="Ada", email="ada@example.org"))
    waiting = run(participants.register, site, event.slug, Submission(name="Bob", email="bob@example.org"))
    token = _row(sessions, mine.registration_id).token

    def call(factory, i):  # type: ignore[no-untyped-def]
        if i == 0:
            return run_unit_of_work(factory, erasure.erase, site, token, write=True)
        return run_unit_of_work(factory, participants.register, site, event.slug, Submission(name="Ada", email="ada@example.org"), write=True)

    outcomes, errors = _race(database_url, 2, call)

    assert errors == []
    rows = _consistent(sessions, event.id)
    assert _row(sessions, mine.registration_id).anonymised_at is not None
    assert _row(sessions, waiting.registration_id).status == S.CONFIRMED
    assert sum(r.status == S.CONFIRMED for r in rows) == 1
    # A registration made after the erasure is the address's own, whole and waiting.
    again = [r for r in rows if r.email == "ada@example.org"]
    assert all(r.status == S.WAITLISTED and r.anonymised_at is None for r in again)
    registered = next(o for o in outcomes if isinstance(o, participants.Outcome))
    assert registered.created == bool(again)


@pytest.mark.parametrize("attempt", range(3))
def test_an_erasure_racing_a_promotion_leaves_the_seat_to_the_next_in_line(attempt, database_url, run, sessions, site, make_event):
    event = make_event(capacity=1, waitlist=True)
    holder = run(participants.register, site, event.slug, Submission(name="Cy", email="cy@example.org"))
    erased = run(participants.register, site, event.slug, Submission(name="Ada", email="ada@example.org"))
    after = run(participants.register, site, event.slug, Submission(name="Bob", email="bob@example.org"))
    assert (erased.status, after.status) == (S.WAITLISTED, S.WAITLISTED)
    holder_token = _row(sessions, holder.registration_id).token
    erased_token = _row(sessions, erased.registration_id).token

    def call(factory, i):  # type: ignore[no-untyped-def]
        if i == 0:
            return run_unit_of_work(factory, erasure.erase, site, erased_token, write=True)
        return run_unit_of_work(factory, participants.cancel, site, holder_token, write=True)

    _, errors = _race(database_url, 2, call)

    assert errors == []
    _consistent(sessions, event.id)
    gone = _row(sessions, erased.registration_id)
    assert gone.status == S.CANCELLED and gone.anonymised_at is not None
    assert _row(sessions, holder.registration_id).status == S.CANCELLED
    assert _row(sessions, after.registration_id).status == S.CONFIRMED
    assert _confirmed(sessions, event.id) == 1

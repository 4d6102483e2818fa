"""Rules the review of issue 22 found missing: an answer sealed once stays sealed when the
form stops listing it, anonymising clears every value of a participant's own changes in the
log (a question may be keyed "reason"), and nothing is written onto an anonymised row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.audit import Actor
from portal.db import utcnow
from portal.errors import InvalidTransition, RegistrationErased
from portal.models import AuditEntry, Registration
from portal.questions.schema import parse_form
from portal.registrations import participants, sealed
from portal.registrations.anonymise import REMOVED, anonymise
from portal.registrations.organiser_edits import Details, add_note, edit_details
from portal.registrations.participants import Submission
from portal.settings import Settings, SettingsError
from tests.sealed_forms import PASSPORT, sealed_world

ACTOR = Actor(id=0, email="cli@example.org", name="", is_admin=True)


def test_an_answer_sealed_once_stays_sealed_when_the_form_no_longer_lists_it(run, make_event, make_form, make_registration):
    world = sealed_world(make_event, make_form, make_registration, run)
    # The event's form now (another programme's, say) has the question, but not as sensitive.
    plain_form = parse_form([{"key": "rank", "type": "text", "label": "Rank"}, {"key": "passport", "type": "text", "label": "Passport"}])

    def rewrite(session):  # type: ignore[no-untyped-def]
        registration = session.get_one(Registration, world.aisha.id)
        sealed.store_answers(session, registration, plain_form, sealed.all_answers(session, registration))
        return registration.answers, registration.sealed_answers

    answers, token = run(rewrite)
    assert "passport" not in answers and PASSPORT not in str(answers)
    assert token and PASSPORT not in token


def test_anonymising_clears_every_value_of_the_participants_own_changes(run, sessions, make_event, make_form, make_registration):
    questions = [{"key": "reason", "type": "textarea", "label": "Why do you want to attend?"}]
    event = make_event(starts_at=utcnow() + timedelta(days=10), ends_at=utcnow() + timedelta(days=11))
    make_form(questions, event=event)
    registration = make_registration(event, name="Ada", answers={"reason": "I was detained in 2019"})
    run(participants.update_details, registration.token, Submission(name="Ada", email="ada@example.org", organisation="", answers={"reason": "Career change"}))
    with sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.update")).all()
        assert entry.before["reason"] == "I was detained in 2019"  # the log keeps it while the registration lives

    def wipe(session):  # type: ignore[no-untyped-def]
        anonymise(session, session.get_one(Registration, registration.id), parse_form(questions))

    run(wipe)
    with sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.update")).all()
        assert set(entry.before.values()) == {REMOVED} and set(entry.after.values()) == {REMOVED}


def test_nothing_is_written_onto_an_anonymised_registration(run, make_event, make_registration):
    event = make_event(starts_at=utcnow() + timedelta(days=10), ends_at=utcnow() + timedelta(days=11))
    registration = make_registration(event, name="Ada", email="ada@example.org")
    token = registration.token
    run(lambda session: anonymise(session, session.get_one(Registration, registration.id), parse_form([])))

    with pytest.raises(InvalidTransition, match="anonymised"):
        run(edit_details, ACTOR, registration.id, Details("Ada", "ada@example.org"))
    with pytest.raises(InvalidTransition, match="anonymised"):
        run(add_note, ACTOR, registration.id, "called her")
    with pytest.raises((RegistrationErased, participants.NotFound)):
        run(participants.update_details, token, Submission(name="Ada", email="ada@example.org", organisation="", answers={}))


def test_a_retention_setting_that_keeps_nothing_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="at least a day"):
        Settings.from_env({"PORTAL_RETENTION": "P0D", "PORTAL_DATA_KEY": ""}, cwd=tmp_path)

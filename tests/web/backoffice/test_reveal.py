"""Sensitive answers in the back office: masked on the roster and the registration's page for
everyone, revealed one at a time by a POST that is recorded (who, whose, which question, how
long; never the value) and shown on the page that answers it, once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Registration
from portal.rosters.columns import COLUMNS, choose_roster_columns
from tests.sealed_forms import DIET, PASSPORT, sealed_world
from tests.web.backoffice.conftest import post, token


@pytest.fixture
def world(make_event, make_form, make_registration, run):  # type: ignore[no-untyped-def]
    return sealed_world(make_event, make_form, make_registration, run, slug="tatc-2027")


def reveals(sessions) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "answer.reveal").order_by(AuditEntry.id)))


def test_the_roster_and_the_registration_page_mask_sensitive_answers(organiser_client, organiser, world, run):
    run(choose_roster_columns, organiser.id, [c for c in COLUMNS if c != "actions"])  # the answers are hidden by default
    roster = organiser_client.get("/admin/events/tatc-2027")
    assert roster.status_code == 200
    assert "Colonel" in roster.text and "Major" in roster.text  # the other answers as before
    assert PASSPORT not in roster.text and "peanuts" not in roster.text
    # A button per sensitive question of a registration that holds sealed answers; Ben
    # answered none of them, so his row has nothing to reveal.
    assert roster.text.count("Sensitive — Reveal") == 2
    # The roster's buttons send its bulk-action form (a form inside it would be dropped), with
    # its answer filter named "question" beside them: the button's own "reveal" decides.
    assert f'formaction="http://testserver/admin/registrations/{world.aisha.id}/reveal"' in roster.text
    sent = post(organiser_client, f"/admin/registrations/{world.aisha.id}/reveal", {"question": "", "reveal": "passport", "status": ""})
    assert sent.status_code == 200 and PASSPORT in sent.text
    page = organiser_client.get(f"/admin/registrations/{world.aisha.id}")
    assert "Colonel" in page.text
    assert PASSPORT not in page.text and "peanuts" not in page.text
    assert page.text.count("Sensitive — Reveal") == 2
    assert f'action="http://testserver/admin/registrations/{world.aisha.id}/reveal"' in page.text
    assert "Sensitive — Reveal" not in organiser_client.get(f"/admin/registrations/{world.ben.id}").text


def test_a_reveal_shows_the_answer_once_and_is_recorded_without_it(organiser_client, organiser, world, sessions):
    response = post(organiser_client, f"/admin/registrations/{world.aisha.id}/reveal", {"question": "passport"})
    # The answer is on the page that answers the POST: no redirect carries it anywhere.
    assert response.status_code == 200
    assert not response.history
    assert PASSPORT in response.text
    assert "peanuts" not in response.text  # only the one asked for
    assert response.headers["cache-control"] == "no-store"
    assert PASSPORT not in response.headers.get("set-cookie", "")
    # Recorded: who, whose, which question and how long; not the value.
    [entry] = reveals(sessions)
    assert entry.organiser_id == organiser.id
    assert entry.event_id == world.event.id and entry.registration_id == world.aisha.id
    assert entry.after == {"question": "passport", "bytes": len(PASSPORT)}
    assert PASSPORT not in json.dumps(entry.before) + json.dumps(entry.after)
    # The page again: masked, and the reveal in its trail.
    again = organiser_client.get(f"/admin/registrations/{world.aisha.id}")
    assert PASSPORT not in again.text
    assert "Sensitive answer revealed" in again.text and "passport" in again.text


def test_the_size_is_counted_in_bytes_of_the_text(organiser_client, world, sessions):
    response = post(organiser_client, f"/admin/registrations/{world.aisha.id}/reveal", {"question": "diet"})
    assert "Halal; allergic to peanuts" in response.text
    assert reveals(sessions)[-1].after == {"question": "diet", "bytes": len(DIET.encode())}
    # Unanswered: nothing to show, and the look recorded all the same.
    empty = post(organiser_client, f"/admin/registrations/{world.ben.id}/reveal", {"question": "passport"})
    assert empty.status_code == 200
    assert reveals(sessions)[-1].after == {"question": "passport", "bytes": 0}


def test_only_a_sensitive_question_is_revealed(organiser_client, world, sessions):
    for key, status in (("rank", 400), ("no-such-question", 400), ("", 400)):
        response = post(organiser_client, f"/admin/registrations/{world.aisha.id}/reveal", {"question": key})
        assert response.status_code == status, key
        assert PASSPORT not in response.text
    assert post(organiser_client, "/admin/registrations/999999/reveal", {"question": "passport"}).status_code == 404
    assert reveals(sessions) == []


def test_a_reveal_needs_the_csrf_token(organiser_client, world, sessions):
    token(organiser_client, "/admin/")
    response = organiser_client.post(f"/admin/registrations/{world.aisha.id}/reveal", data={"question": "passport"})
    assert response.status_code == 403
    assert PASSPORT not in response.text
    assert reveals(sessions) == []


def test_the_answers_are_sealed_in_the_database(world, sessions):
    with sessions() as session:
        row = session.get_one(Registration, world.aisha.id)
        assert row.answers == {"rank": "Colonel"}
        assert PASSPORT not in (row.sealed_answers or "")

"""Sensitive answers sealed at rest: a passport number and a CV sent through the public form
are nowhere in the database (its file's bytes on SQLite, its rows' text on PostgreSQL) nor in
the upload directory, yet the participant sees them back on their manage page and downloads
their file; an organiser's download of a sealed file is recorded as a reveal; a participant's
change of a sensitive answer is logged by key only; fixed answers and choice places still
hold when some answers are sealed."""

from __future__ import annotations

import json
import sqlite3
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from portal.accounts import organisers
from portal.errors import InvalidInput
from portal.models import AuditEntry, ChoicePick, Registration, Upload
from portal.registrations import participants
from portal.registrations.participants import Submission
from portal.rosters import messages
from tests.conftest import csrf_from
from tests.web.backoffice.conftest import PASSWORD, sign_in

PASSPORT = "K1234567X"
MARKER = b"SEALED-CV-MARKER-6d1f0c"
CV_BYTES = b"%PDF-1.4\n% " + MARKER + b"\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CV_NAME = "Lee-Wan-Curriculum-Vitae.pdf"

FORM: list[dict[str, Any]] = [
    {"key": "passport", "type": "text", "label": "Passport number", "required": True, "sensitive": True},
    {"key": "rank", "type": "text", "label": "Rank"},
    {"key": "cv", "type": "file", "label": "CV", "accept": ["application/pdf"]},  # sensitive by default
]


@pytest.fixture
def form_event(make_event, make_form):  # type: ignore[no-untyped-def]
    def _make(questions: list[dict[str, Any]], **values: Any) -> Any:
        event = make_event(**values)
        make_form(questions, event=event)
        return event

    return _make


def register_through_the_form(client, event) -> Any:  # type: ignore[no-untyped-def]
    page = client.get(f"/events/{event.slug}/register")
    data = {"name": "Lee Wan", "email": "lee@example.org", "consent": "y", "passport": PASSPORT, "rank": "Major",
            "csrf_token": csrf_from(page.text)}
    return client.post(f"/events/{event.slug}/register", data=data, files={"cv": (CV_NAME, CV_BYTES, "application/pdf")})


def sqlite_bytes(database_url: str) -> bytes:
    """Every byte SQLite keeps for the database: its file and, if any, its write-ahead log,
    read before and after the log is folded into the file."""
    path = Path(make_url(database_url).database or "")
    held = b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return held + path.read_bytes()


def postgresql_text(sessions) -> str:  # type: ignore[no-untyped-def]
    """Every row of the tables a registration writes to, as PostgreSQL prints them."""
    with sessions() as session:
        return "\n".join(
            row for table in ("registrations", "uploads", "audit_entries", "outbox")
            for row in session.scalars(text(f"SELECT CAST(t AS text) FROM {table} t"))
        )


def test_a_sensitive_answer_and_file_are_not_in_the_database_yet_the_participant_sees_them(
    client, form_event, sessions, settings, database_url,
):
    event = form_event(FORM)
    response = register_through_the_form(client, event)
    assert response.status_code == 303, response.text
    with sessions() as session:
        registration = session.scalars(select(Registration)).one()
        upload = session.scalars(select(Upload)).one()
    assert registration.answers == {"rank": "Major"} and registration.sealed_answers
    assert (upload.filename, upload.sealed) == ("upload.pdf", True)

    # The file on disk is sealed: neither its bytes nor its name are there in plain.
    stored = (settings.upload_directory / upload.stored_name).read_bytes()
    assert MARKER not in stored and b"%PDF" not in stored
    assert [p.name for p in settings.upload_directory.iterdir()] == [upload.stored_name]

    # The participant's own page shows them back; their download is the file as sent.
    manage = client.get(f"/registrations/{registration.token}")
    assert manage.status_code == 200
    assert f'value="{PASSPORT}"' in manage.text and CV_NAME in unescape(manage.text)
    download = client.get(f"/registrations/{registration.token}/files/cv")
    assert download.status_code == 200 and download.content == CV_BYTES
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == f'attachment; filename="{CV_NAME}"'
    assert download.headers["cache-control"] == "no-store"

    # The raw database, read after the portal is done with it.
    client.close()
    secrets = (PASSPORT.encode(), MARKER, CV_NAME.encode())
    if make_url(database_url).get_backend_name() == "sqlite":
        raw = sqlite_bytes(database_url)
        assert b"Major" in raw  # the plain answer is there: this reads what the database holds
        assert not [s for s in secrets if s in raw]
    else:
        rows = postgresql_text(sessions)
        assert "Major" in rows and "Lee Wan" in rows
        assert not [s for s in secrets if s.decode() in rows]


def test_an_organiser_download_of_a_sealed_file_is_recorded_in_the_data_access_log(client, form_event, sessions, run):
    event = form_event(FORM)
    assert register_through_the_form(client, event).status_code == 303
    with sessions() as session:
        registration = session.scalars(select(Registration)).one()
    organiser = run(organisers.add_organiser, "olga@example.org", PASSWORD, name="Olga", is_admin=True)
    assert sign_in(client, organiser.email).status_code == 303

    response = client.get(f"/admin/registrations/{registration.id}/files/cv")
    assert response.status_code == 200 and response.content == CV_BYTES
    assert response.headers["content-disposition"] == f'attachment; filename="{CV_NAME}"'
    with sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "answer.download"))
    assert (entry.organiser_id, entry.registration_id, entry.event_id) == (organiser.id, registration.id, event.id)
    assert entry.after == {"question": "cv", "bytes": len(CV_BYTES)}
    assert CV_NAME not in json.dumps(entry.after)
    log = client.get("/admin/data-access")
    assert "Downloaded a sensitive file" in log.text and CV_NAME not in log.text


EDITS: list[dict[str, Any]] = [
    {"key": "passport", "type": "text", "label": "Passport number", "sensitive": True},
    {"key": "clearance", "type": "yesno", "label": "Security clearance?", "sensitive": True, "editable": False},
    {"key": "rank", "type": "text", "label": "Rank"},
]


def test_a_participant_s_change_keeps_fixed_sealed_answers_and_logs_no_sensitive_value(run, site, form_event, sessions, settings):
    event = form_event(EDITS)
    outcome = run(participants.register, site, event.slug, Submission(
        name="Lee Wan", email="lee@example.org", answers={"passport": PASSPORT, "clearance": "yes", "rank": "Major"},
    ))
    with sessions() as session:
        token = session.get(Registration, outcome.registration_id).token

    # A new passport number and rank; the clearance, which may not change, is sent changed.
    run(participants.update_details, token, Submission(
        name="Lee Wan", email="lee@example.org", answers={"passport": "E7654321A", "clearance": "no", "rank": "Colonel"},
    ))
    with sessions() as session:
        registration = session.get(Registration, outcome.registration_id)
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.update"))
    assert registration.answers == {"rank": "Colonel"}
    assert settings.keyring.open_json(registration.sealed_answers) == {"passport": "E7654321A", "clearance": "yes"}
    assert entry.before == {"passport": "(sensitive answer changed)", "rank": "Major"}
    assert entry.after == {"passport": "(sensitive answer changed)", "rank": "Colonel"}
    assert PASSPORT not in json.dumps([entry.before, entry.after]) and "E7654321A" not in json.dumps(entry.after)


PLACES: list[dict[str, Any]] = [
    {"key": "needs", "type": "yesno", "label": "Do you have medical needs?", "sensitive": True},
    {"key": "diet", "type": "choice", "label": "Dietary needs", "sensitive": True,
     "choices": [{"value": "halal", "label": "Halal"}, {"value": "none", "label": "None"}]},
    {"key": "room", "type": "choice", "label": "Quiet room", "show_if": {"needs": ["yes"]},
     "choices": [{"value": "a", "label": "Room A", "places": 1}, {"value": "b", "label": "Room B", "places": 1}]},
]


def picks_of(sessions, registration_id: int) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return {(p.question_key, p.value) for p in session.scalars(select(ChoicePick).where(ChoicePick.registration_id == registration_id))}


def test_places_are_held_when_the_answer_that_shows_them_is_sealed(run, site, form_event, sessions):
    event = form_event(PLACES)
    outcome = run(participants.register, site, event.slug, Submission(
        name="Lee Wan", email="lee@example.org", answers={"needs": "yes", "diet": "halal", "room": "a"},
    ))
    # The room shown on a sealed answer takes its place; a sensitive choice holds none.
    assert picks_of(sessions, outcome.registration_id) == {("room", "a")}
    with sessions() as session:
        registration = session.get(Registration, outcome.registration_id)
        token = registration.token
    assert registration.answers == {"room": "a"}

    # Changing only the sealed diet leaves the room's place as it is; changing the room moves it.
    run(participants.update_details, token, Submission(name="Lee Wan", email="lee@example.org", answers={"needs": "yes", "diet": "none", "room": "a"}))
    assert picks_of(sessions, outcome.registration_id) == {("room", "a")}
    run(participants.update_details, token, Submission(name="Lee Wan", email="lee@example.org", answers={"needs": "yes", "diet": "none", "room": "b"}))
    assert picks_of(sessions, outcome.registration_id) == {("room", "b")}
    # No longer needing the room (the sealed answer now says no) gives its place back.
    run(participants.update_details, token, Submission(name="Lee Wan", email="lee@example.org", answers={"needs": "no", "diet": "none"}))
    assert picks_of(sessions, outcome.registration_id) == set()


def test_a_message_s_audience_is_never_chosen_by_a_sealed_answer(run, form_event):
    event = form_event(PLACES)
    data = run(messages.message_form_data, event.slug)
    # Only the open choice is offered: a sealed answer cannot be filtered on.
    assert [q.key for q in data.questions] == ["room"]
    with pytest.raises(InvalidInput, match="no choice question with that key"):
        run(messages.count_audience, event, {"statuses": ["confirmed"], "checked_in": None, "question": "diet", "answer": "halal"})


def test_a_file_question_marked_not_sensitive_is_kept_as_sent(client, form_event, sessions, settings, run):
    event = form_event([{"key": "photo", "type": "file", "label": "Photo", "accept": ["application/pdf"], "sensitive": False}])
    page = client.get(f"/events/{event.slug}/register")
    data = {"name": "Lee Wan", "email": "lee@example.org", "consent": "y", "csrf_token": csrf_from(page.text)}
    assert client.post(f"/events/{event.slug}/register", data=data, files={"photo": (CV_NAME, CV_BYTES, "application/pdf")}).status_code == 303
    with sessions() as session:
        registration = session.scalars(select(Registration)).one()
        upload = session.scalars(select(Upload)).one()
    assert registration.answers == {"photo": CV_NAME} and registration.sealed_answers is None
    assert (upload.filename, upload.sealed) == (CV_NAME, False)
    assert (settings.upload_directory / upload.stored_name).read_bytes() == CV_BYTES
    # Downloading it reveals nothing sealed: nothing is recorded.
    organiser = run(organisers.add_organiser, "olga@example.org", PASSWORD, name="Olga", is_admin=True)
    assert sign_in(client, organiser.email).status_code == 303
    assert client.get(f"/admin/registrations/{registration.id}/files/photo").content == CV_BYTES
    with sessions() as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.action == "answer.download")).first() is None

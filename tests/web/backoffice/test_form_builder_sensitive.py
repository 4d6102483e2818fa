"""The form builder's "Sensitive" box: ticked at first for a file question, suggested for a
label that asks for something sensitive (the page says why, and the organiser decides),
kept by an edit, refused beside places; a question made sensitive after people answered it
has their answers sealed at once, the audit log saying how many, never what."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from portal import cli
from portal.catalogue.imports import import_data
from portal.models import AuditEntry, Registration, Upload
from portal.questions import store
from portal.questions.schema import parse_form
from portal.questions.store import Owner
from portal.registrations import uploads
from tests.web.backoffice.conftest import token
from tests.web.backoffice.test_form_builder import add, definition_of, edit, field_error, stamp_of

REF = "programme-appsmo"
TICKED = re.compile(r'<input(?=[^>]*\bid="sensitive")[^>]*\bchecked')


@pytest.fixture
def programme(make_programme):  # type: ignore[no-untyped-def]
    return make_programme(code="appsmo", name="APPSMO")


def test_a_new_file_question_is_sensitive_unless_unticked(organiser_client, programme, sessions):
    file_page = organiser_client.get(f"/admin/forms/{REF}/questions/new?type=file")
    text_page = organiser_client.get(f"/admin/forms/{REF}/questions/new?type=text")
    assert TICKED.search(file_page.text) and not TICKED.search(text_page.text)
    assert "Sensitive: sealed, masked in the roster, left out of exports" in html.unescape(text_page.text)
    assert "left out of exports unless asked for by name" in html.unescape(text_page.text)

    assert add(organiser_client, REF, "file", key="cv", label="CV", accept="application/pdf").status_code == 303
    assert add(organiser_client, REF, "file", key="photo", label="Photo", accept="image/png", sensitive="").status_code == 303
    by_key = definition_of(sessions, Owner(programme_id=programme.id)).by_key()
    assert by_key["cv"].sensitive and not by_key["photo"].sensitive
    # The builder's list says which are.
    assert "Sensitive: sealed, masked in the roster" in organiser_client.get(f"/admin/forms/{REF}").text


def test_a_label_that_looks_sensitive_comes_back_ticked_with_the_reason(organiser_client, programme, sessions):
    page = organiser_client.get(f"/admin/forms/{REF}/questions/new?type=text")
    data = {"csrf_token": token(organiser_client, f"/admin/forms/{REF}"), "stamp": stamp_of(page.text), "editable": "y",
            "key": "passport", "label": "Passport number"}
    suggested = organiser_client.post(f"/admin/forms/{REF}/questions/new?type=text", data=data)
    # Nothing saved yet: the box is ticked now, and the page says why.
    assert suggested.status_code == 200
    words = html.unescape(suggested.text)
    assert "The label asks for something usually sensitive" in words and TICKED.search(suggested.text)
    assert 'name="sensitive_seen" type="hidden" value="1"' in suggested.text or 'value="1"' in suggested.text
    assert "passport" not in definition_of(sessions, Owner(programme_id=programme.id)).by_key()

    # Sent again as the page now stands: sealed.
    again = organiser_client.post(f"/admin/forms/{REF}/questions/new?type=text", data={**data, "sensitive": "y", "sensitive_seen": "1"})
    assert again.status_code == 303
    assert definition_of(sessions, Owner(programme_id=programme.id)).by_key()["passport"].sensitive

    # The organiser who unticks it after the suggestion is taken at their word.
    page = organiser_client.get(f"/admin/forms/{REF}/questions/new?type=text")
    unticked = organiser_client.post(
        f"/admin/forms/{REF}/questions/new?type=text",
        data={**data, "stamp": stamp_of(page.text), "key": "diet", "label": "Dietary needs", "sensitive_seen": "1"},
    )
    assert unticked.status_code == 303
    assert not definition_of(sessions, Owner(programme_id=programme.id)).by_key()["diet"].sensitive

    # An ordinary label is not held up.
    assert add(organiser_client, REF, "text", key="rank", label="Rank", sensitive_seen="").status_code == 303


def test_a_choice_with_places_cannot_be_sensitive(organiser_client, programme):
    response = add(organiser_client, REF, "choice", key="workshop", label="Workshop", choices="a | A | 20\nb | B", sensitive="y")
    assert response.status_code == 422
    assert "A choice with places cannot be sensitive" in field_error(response.text, "sensitive")


def test_making_a_question_sensitive_seals_the_answers_given(organiser_client, programme, make_event, make_registration, sessions, settings):
    add(organiser_client, REF, "text", key="passport", label="Travel document", sensitive_seen="1")
    first, second = make_event(programme_id=programme.id), make_event(programme_id=programme.id)
    answered = [
        make_registration(first, answers={"passport": "K1234567X", "position": "Analyst"}),
        make_registration(second, answers={"passport": "E7654321A"}),
    ]
    untouched = make_registration(first, answers={"position": "Director"})
    other = make_registration(make_event(), answers={"passport": "OTHER-FORM-1"})  # the default form's: not this one

    response = edit(organiser_client, REF, 1, key="passport", label="Travel document", editable="y", sensitive="y")
    assert response.status_code == 303
    with sessions() as session:
        rows = {r.id: r for r in session.scalars(select(Registration))}
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "form.update").order_by(AuditEntry.id.desc())).first()
    assert rows[answered[0].id].answers == {"position": "Analyst"}
    assert settings.keyring.open_json(rows[answered[0].id].sealed_answers) == {"passport": "K1234567X"}
    assert rows[answered[1].id].answers == {} and "E7654321A" not in rows[answered[1].id].sealed_answers
    assert rows[untouched.id].sealed_answers is None and rows[other.id].answers == {"passport": "OTHER-FORM-1"}
    assert entry is not None and entry.after["answers sealed"] == "2 registrations' answers to passport"
    assert "K1234567X" not in json.dumps([entry.before, entry.after])

    # Still answered (sealed), so the builder retires rather than deletes it.
    with sessions() as session:
        session.info["keyring"] = settings.keyring
        assert store.answered(session, Owner(programme_id=programme.id), "passport")


def test_unticking_sensitive_moves_the_answers_back_into_the_open(organiser_client, programme, make_event, make_registration, sessions, settings):
    add(organiser_client, REF, "text", key="passport", label="Travel document", sensitive_seen="1")
    add(organiser_client, REF, "text", key="medical", label="Medical needs", sensitive_seen="1")
    event = make_event(programme_id=programme.id, slug="appsmo-2027")
    both = make_registration(event, name="Aisha Rahman", answers={"passport": "K1234567X", "medical": "asthma"})
    one = make_registration(event, name="Ben Tan", answers={"passport": "E7654321A"})
    assert edit(organiser_client, REF, 1, key="passport", label="Travel document", editable="y", sensitive="y").status_code == 303
    assert edit(organiser_client, REF, 2, key="medical", label="Medical needs", editable="y", sensitive="y").status_code == 303
    with sessions() as session:
        assert session.get_one(Registration, one.id).answers == {}

    assert edit(organiser_client, REF, 1, key="passport", label="Travel document", editable="y", sensitive="").status_code == 303
    with sessions() as session:
        rows = {r.id: r for r in session.scalars(select(Registration))}
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "form.update").order_by(AuditEntry.id.desc())).first()
    assert rows[one.id].answers == {"passport": "E7654321A"} and rows[one.id].sealed_answers is None
    # The other sensitive answer stays sealed.
    assert rows[both.id].answers == {"passport": "K1234567X"}
    assert settings.keyring.open_json(rows[both.id].sealed_answers) == {"medical": "asthma"}
    assert entry is not None and entry.after["answers unsealed"] == "2 registrations' answers to passport"
    assert "K1234567X" not in json.dumps([entry.before, entry.after])
    assert not definition_of(sessions, Owner(programme_id=programme.id)).by_key()["passport"].sensitive
    # The roster's export shows them again, as any answer.
    exported = organiser_client.get("/admin/events/appsmo-2027/export.csv")
    assert exported.status_code == 200 and "E7654321A" in exported.text and "K1234567X" in exported.text
    assert "asthma" not in exported.text


def test_a_file_question_made_sensitive_has_its_files_sealed(organiser_client, programme, make_event, make_registration, sessions, settings, run):
    add(organiser_client, REF, "file", key="cv", label="CV", accept="application/pdf", sensitive="")
    event = make_event(programme_id=programme.id)
    registration = make_registration(event, answers={"cv": "Aisha CV 2027.pdf"})
    content = b"%PDF-1.4 curriculum vitae"
    plain_name = uploads.save(settings.upload_directory, content)

    def _add_upload(session):  # type: ignore[no-untyped-def]
        session.add(Upload(
            stored_name=plain_name, registration_id=registration.id, event_id=event.id, question_key="cv",
            filename="Aisha CV 2027.pdf", content_type="application/pdf", size=len(content),
        ))

    run(_add_upload)
    assert edit(organiser_client, REF, 1, key="cv", label="CV", accept="application/pdf", sensitive="y").status_code == 303
    with sessions() as session:
        upload = session.scalars(select(Upload)).one()
        row = session.get_one(Registration, registration.id)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "form.update").order_by(AuditEntry.id.desc())).first()
    assert upload.sealed and upload.filename == "upload.pdf" and upload.stored_name != plain_name
    sealed_file = settings.upload_directory / upload.stored_name
    assert sealed_file.stat().st_mode & 0o777 == 0o600
    assert content not in sealed_file.read_bytes() and settings.keyring.open(sealed_file.read_bytes()) == content
    # The real name is the answer, sealed with the others.
    assert row.answers == {} and settings.keyring.open_json(row.sealed_answers) == {"cv": "Aisha CV 2027.pdf"}
    assert entry is not None and entry.after["files sealed"] == "1 file sent for cv"
    # The plain file is named by no row now: the sweep takes it.
    assert (settings.upload_directory / plain_name).exists()
    assert run(uploads.sweep_orphans, settings.upload_directory, older_than=-1) == 1
    assert not (settings.upload_directory / plain_name).exists() and sealed_file.exists()
    # An organiser's download opens it, under its real name.
    download = organiser_client.get(f"/admin/registrations/{registration.id}/files/cv")
    assert download.status_code == 200 and download.content == content
    assert "Aisha%20CV%202027.pdf" in download.headers["content-disposition"]

    # Unticked: the name comes back into the open, the file stays sealed and still downloads.
    assert edit(organiser_client, REF, 1, key="cv", label="CV", accept="application/pdf", sensitive="").status_code == 303
    with sessions() as session:
        upload = session.scalars(select(Upload)).one()
        row = session.get_one(Registration, registration.id)
    assert row.answers == {"cv": "Aisha CV 2027.pdf"} and row.sealed_answers is None
    assert upload.sealed and settings.keyring.open(sealed_file.read_bytes()) == content
    assert organiser_client.get(f"/admin/registrations/{registration.id}/files/cv").content == content


def test_a_file_made_sensitive_is_not_sealed_in_a_change_rolled_back(programme, make_event, make_registration, sessions, settings, run):
    run(store.save_form, None, Owner(programme_id=programme.id), parse_form([
        {"type": "file", "key": "cv", "label": "CV", "sensitive": False},
    ]))
    event = make_event(programme_id=programme.id)
    registration = make_registration(event, answers={"cv": "cv.pdf"})
    content = b"%PDF-1.4 plain"
    plain_name = uploads.save(settings.upload_directory, content)
    run(lambda session: session.add(Upload(
        stored_name=plain_name, registration_id=registration.id, event_id=event.id, question_key="cv",
        filename="cv.pdf", content_type="application/pdf", size=len(content),
    )))
    with sessions() as session, pytest.raises(RuntimeError, match="stopped"), session.begin():
        store.save_form(session, None, Owner(programme_id=programme.id), parse_form([
            {"type": "file", "key": "cv", "label": "CV", "sensitive": True},
        ]))
        raise RuntimeError("stopped before the commit")
    with sessions() as session:
        upload = session.scalars(select(Upload)).one()
    # The row still names the plain file, whole; the sealed copy is an orphan for the sweep.
    assert not upload.sealed and upload.stored_name == plain_name and upload.filename == "cv.pdf"
    assert (settings.upload_directory / plain_name).read_bytes() == content
    assert run(uploads.sweep_orphans, settings.upload_directory, older_than=-1) == 1
    assert (settings.upload_directory / plain_name).read_bytes() == content


def test_sensitive_survives_an_import_and_portal_export_form(run, portal_env, capsys):
    run(import_data, {"programmes": [{"code": "tatc", "name": "TATC", "admission": "open", "form": [
        {"key": "passport", "type": "text", "label": "Passport number", "sensitive": True},
        {"key": "rank", "type": "text", "label": "Rank"},
        {"key": "cv", "type": "file", "label": "CV", "accept": ["application/pdf"]},
        {"key": "photo", "type": "file", "label": "Photo", "accept": ["image/png"], "sensitive": False},
    ]}]})
    capsys.readouterr()
    assert cli.main(["export", "form", "programme:tatc"]) == 0
    by_key = {q["key"]: q for q in json.loads(capsys.readouterr().out)["form"]}
    assert by_key["passport"]["sensitive"] is True and "sensitive" not in by_key["rank"]
    # A file is sensitive unless the form says otherwise: only the exception is written.
    assert "sensitive" not in by_key["cv"] and by_key["photo"]["sensitive"] is False
    # And the exported form imports back as it was.
    run(import_data, {"programmes": [{"code": "tatc", "name": "TATC", "admission": "open", "form": list(by_key.values())}]})
    assert cli.main(["export", "form", "programme:tatc"]) == 0
    assert {q["key"]: q for q in json.loads(capsys.readouterr().out)["form"]} == by_key

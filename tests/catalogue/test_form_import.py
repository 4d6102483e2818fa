"""Registration forms in the import file and out of it: a programme's and an event's `form`,
keys the format does not know refused at every level (naming the record and the key), a
malformed question or a change that would take answers' meaning away refused with nothing
changed, a re-import that changes nothing, and `portal export form` whose output imports
into another database as the same form."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from portal import cli, demo, migrate
from portal.catalogue.imports import import_data
from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.errors import ImportProblem
from portal.models import AuditEntry, Event, Programme, Questionnaire, Registration
from portal.questions.schema import TYPES, FormDefinition, parse_form
from portal.questions.store import Owner, definition, find_form, save_form
from tests.conftest import PG_URL, scratch_postgres

FORM: list[dict[str, Any]] = [
    {"type": "heading", "label": "About you"},
    {"key": "rank", "type": "text", "label": "Rank", "required": True, "max_length": 100},
    {"key": "dietary", "type": "choice", "label": "Dietary requirement", "required": True,
     "choices": [{"value": "none", "label": "None"}, {"value": "vegetarian", "label": "Vegetarian"}, {"value": "halal", "label": "Halal"}]},
    {"key": "workshop", "type": "choice", "widget": "radio", "label": "Workshop",
     "choices": [{"value": "a", "label": "Workshop A", "places": 20}, {"value": "b", "label": "Workshop B", "places": 20}]},
    {"key": "visa", "type": "yesno", "label": "Do you need a visa support letter?"},
    {"key": "passport", "type": "text", "label": "Passport number", "required": True, "show_if": {"visa": ["yes"]}},
    {"key": "cv", "type": "file", "label": "CV", "accept": ["application/pdf"], "max_bytes": 5000000},
]
EVENT_FORM: list[dict[str, Any]] = [
    {"key": "laptop", "type": "yesno", "label": "Will you bring a laptop?", "required": True},
    {"key": "mobile", "type": "phone", "label": "Mobile phone"},
]
GOOD: dict[str, Any] = {
    "programmes": [
        {"code": "tatc", "name": "Terrorism Analyst Training Course", "admission": "application",
         "organisation_required": True, "form": FORM},
        {"code": "iccs", "name": "International Conference on Cohesive Societies", "admission": "open"},
    ],
    "events": [
        {"slug": "tatc-2027-03", "title": "TATC March 2027", "programme": "tatc", "category": "course",
         "starts_at": "2027-03-08T09:00:00+08:00", "ends_at": "2027-03-12T17:00:00+08:00", "status": "published"},
        {"slug": "osint-2027", "title": "OSINT workshop", "category": "workshop", "status": "published",
         "starts_at": "2027-02-04T09:30:00+08:00", "ends_at": "2027-02-04T16:30:00+08:00", "form": EVENT_FORM},
        {"slug": "iccs-2027", "title": "ICCS 2027", "programme": "iccs", "category": "conference",
         "starts_at": "2027-06-22T09:00:00+08:00", "ends_at": "2027-06-24T17:00:00+08:00", "status": "published"},
    ],
}
DEFAULT_FORM = [{"key": "position", "type": "text", "label": "Position or job title", "max_length": 200}]


def good() -> dict[str, Any]:
    return copy.deepcopy(GOOD)


@pytest.fixture(autouse=True)
def default_form(run) -> None:  # type: ignore[no-untyped-def]
    """The site's default form, as migration 0009 writes it (the PostgreSQL test database is
    emptied between tests, forms and all)."""
    run(save_form, None, Owner(), parse_form(DEFAULT_FORM))


@pytest.fixture
def stored(sessions):  # type: ignore[no-untyped-def]
    """stored(code=... | slug=...): the programme's or the event's own form row, or None."""

    def _stored(*, code: str | None = None, slug: str | None = None) -> Questionnaire | None:
        with sessions() as session:
            if code is not None:
                return find_form(session, Owner(programme_id=session.scalar(select(Programme.id).where(Programme.code == code))))
            return find_form(session, Owner(event_id=session.scalar(select(Event.id).where(Event.slug == slug))))

    return _stored


@pytest.fixture
def snapshot(sessions):  # type: ignore[no-untyped-def]
    """Everything an import may change, to compare before and after a refused one."""

    def _snapshot() -> dict[str, Any]:
        with sessions() as session:
            return {
                "programmes": session.execute(select(Programme.code, Programme.name).order_by(Programme.code)).all(),
                "events": session.execute(select(Event.slug, Event.title).order_by(Event.slug)).all(),
                "forms": session.execute(
                    select(Questionnaire.programme_id, Questionnaire.event_id, Questionnaire.questions,
                           Questionnaire.organisation_required, Questionnaire.version).order_by(Questionnaire.id)
                ).all(),
                "audit": session.scalar(select(func.count()).select_from(AuditEntry)),
            }

    return _snapshot


def questions(row: Questionnaire | None) -> list[dict[str, Any]]:
    return definition(row).to_json()


def test_a_programme_and_an_event_bring_their_forms(run, stored, sessions):
    report = run(import_data, good())

    assert report.forms_saved == 2
    assert str(report).endswith("; forms: 2 saved")
    tatc = stored(code="tatc")
    assert tatc is not None and questions(tatc) == FORM and tatc.organisation_required is True and tatc.version == 1
    own = stored(slug="osint-2027")
    assert own is not None and questions(own) == EVENT_FORM and own.organisation_required is False
    # A new programme without a form gets none: its runs use the site's default form.
    assert stored(code="iccs") is None
    assert stored(slug="tatc-2027-03") is None and stored(slug="iccs-2027") is None
    with sessions() as session:
        actions = session.execute(select(AuditEntry.action, AuditEntry.actor).order_by(AuditEntry.id)).all()
    assert [(a, str(actor)) for a, actor in actions][-2:] == [("form.update", "command_line")] * 2


def test_importing_the_same_file_again_changes_nothing(run, snapshot):
    run(import_data, good())
    before = snapshot()

    again = run(import_data, good())

    assert again.forms_saved == 0
    assert str(again) == "programmes: 0 created, 0 updated; events: 0 created, 0 updated"
    assert snapshot() == before  # no version raised, no audit entry


def test_a_record_without_form_keeps_the_form_it_has(run, stored):
    run(import_data, good())
    data = good()
    del data["programmes"][0]["form"]
    del data["programmes"][0]["organisation_required"]
    del data["events"][1]["form"]
    data["programmes"][0]["name"] = "TATC (renamed)"

    report = run(import_data, data)

    assert (report.programmes_updated, report.forms_saved) == (1, 0)
    assert questions(stored(code="tatc")) == FORM and stored(code="tatc").organisation_required is True
    assert questions(stored(slug="osint-2027")) == EVENT_FORM


def test_organisation_required_alone_sets_it_on_the_form_that_applies(run, stored, sessions):
    run(import_data, good())
    data = good()
    del data["programmes"][0]["form"]
    data["programmes"][0]["organisation_required"] = False
    data["events"][0]["organisation_required"] = False  # as its programme's form now says: nothing to do
    data["events"][2]["organisation_required"] = True  # not as the default says: a copy with it

    report = run(import_data, data)

    assert report.forms_saved == 2
    tatc = stored(code="tatc")
    assert questions(tatc) == FORM and tatc.organisation_required is False and tatc.version == 2
    assert stored(slug="tatc-2027-03") is None
    iccs_run = stored(slug="iccs-2027")
    assert iccs_run is not None and questions(iccs_run) == DEFAULT_FORM and iccs_run.organisation_required is True
    assert run(import_data, data).forms_saved == 0


def test_a_question_removed_by_a_new_file_is_retired_if_answered(run, stored, sessions, make_registration):
    run(import_data, good())
    with sessions() as session:
        event = session.scalars(select(Event).where(Event.slug == "tatc-2027-03")).one()
    registration = make_registration(event, answers={"rank": "Colonel", "dietary": "halal"})
    data = good()
    # Rank goes (answered: retired); the CV goes (unanswered: dropped); a choice relabelled.
    data["programmes"][0]["form"] = [q for q in copy.deepcopy(FORM) if q.get("key") not in ("rank", "cv")]
    data["programmes"][0]["form"][1]["choices"][2]["label"] = "Halal (certified)"

    assert run(import_data, data).forms_saved == 1

    form = definition(stored(code="tatc"))
    assert [(q.key, q.retired) for q in form.questions if q.asks] == [
        ("dietary", False), ("workshop", False), ("visa", False), ("passport", False), ("rank", True),
    ]
    assert form.by_key()["dietary"].choice_label("halal") == "Halal (certified)"
    with sessions() as session:
        assert session.get(Registration, registration.id).answers == {"rank": "Colonel", "dietary": "halal"}
    # The file imported again: the form stays as it is.
    assert run(import_data, data).forms_saved == 0


def test_an_event_given_its_own_form_keeps_the_answers_it_had_under_its_programme_s(run, stored, sessions, make_registration):
    run(import_data, good())
    with sessions() as session:
        event = session.scalars(select(Event).where(Event.slug == "tatc-2027-03")).one()
    make_registration(event, answers={"rank": "Major"})
    data = good()
    data["events"][0]["form"] = copy.deepcopy(EVENT_FORM)

    run(import_data, data)

    own = definition(stored(slug="tatc-2027-03"))
    assert [(q.key, q.retired) for q in own.questions] == [("laptop", False), ("mobile", False), ("rank", True)]


def test_taking_away_a_picked_choice_is_refused_and_nothing_changes(run, sessions, snapshot, make_registration):
    run(import_data, good())
    with sessions() as session:
        event = session.scalars(select(Event).where(Event.slug == "tatc-2027-03")).one()
    make_registration(event, answers={"dietary": "halal"})
    before = snapshot()
    data = good()
    # Changes the file makes before the refused one, all to be undone with it.
    data["programmes"][1]["name"] = "ICCS renamed"
    data["programmes"][1]["form"] = copy.deepcopy(EVENT_FORM)
    data["events"].append({"slug": "new-one", "title": "New", "starts_at": "2027-05-01T09:00:00+08:00",
                           "ends_at": "2027-05-01T10:00:00+08:00", "form": copy.deepcopy(EVENT_FORM)})
    data["programmes"][0]["form"][2]["choices"].pop()  # halal

    with pytest.raises(ImportProblem) as info:
        run(import_data, data)

    assert info.value.message == (
        "programmes[0] (code 'tatc'): form[2] (key 'dietary'): the choice 'halal' has been picked, "
        "so it must stay (its label may change)"
    )
    assert snapshot() == before


def _set(path: str, value: Any) -> Any:
    """A change to the good file at `path` (keys and indexes joined by /)."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        target: Any = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


REFUSED = {
    "unknown top-level key": (_set("event", []), "unknown top-level key 'event' (did you mean 'events'?)"),
    "unknown programme key": (_set("programmes/0/sumary", "A course"), "programmes[0] (code 'tatc'): unknown key 'sumary' (did you mean 'summary'?)"),
    "unknown programme key, nothing like": (_set("programmes/1/fee", 100), "programmes[1] (code 'iccs'): unknown key 'fee'"),
    "form misspelt": (_set("programmes/1/forms", []), "programmes[1] (code 'iccs'): unknown key 'forms' (did you mean 'form'?)"),
    "unknown event key": (_set("events/0/titel", "TATC"), "events[0] (slug 'tatc-2027-03'): unknown key 'titel' (did you mean 'title'?)"),
    "unknown question key": (
        _set("programmes/0/form/1/requried", True),
        "programmes[0] (code 'tatc'): form[1] (key 'rank'): 'requried' is not a property of a text question",
    ),
    "unknown choice key": (
        _set("programmes/0/form/3/choices/0/seats", 20),
        "programmes[0] (code 'tatc'): form[3] (key 'workshop'): choice 1: 'seats' is not a property of a choice",
    ),
    "unknown question type": (
        _set("programmes/0/form/6/type", "pdf"),
        "programmes[0] (code 'tatc'): form[6] (key 'cv'): type 'pdf' is not one of text, textarea, email, phone",
    ),
    "duplicate key": (
        _set("programmes/0/form/5/key", "rank"),
        "programmes[0] (code 'tatc'): form[5] (key 'rank'): key 'rank' is used by an earlier question",
    ),
    "condition on a later question": (
        _set("programmes/0/form/1/show_if", {"visa": ["yes"]}),
        "programmes[0] (code 'tatc'): form[1] (key 'rank'): its condition names 'visa', which is not a question above it",
    ),
    "negative places": (
        _set("programmes/0/form/3/choices/1/places", -5),
        "programmes[0] (code 'tatc'): form[3] (key 'workshop'): choice 2: places must be a whole number, 0 or more",
    ),
    "a form that is not a list": (_set("events/1/form", {"laptop": "yesno"}), "events[1] (slug 'osint-2027'): form: must be a list of questions"),
    "an event's malformed question": (
        _set("events/1/form/1", {"key": "mobile", "type": "phone", "label": "Mobile", "max_length": 20}),
        "events[1] (slug 'osint-2027'): form[1] (key 'mobile'): 'max_length' is not a property of a phone question",
    ),
    "organisation_required as text": (
        _set("programmes/0/organisation_required", "yes"), "programmes[0] (code 'tatc'): organisation_required: must be true or false",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_key_the_format_does_not_know_or_a_malformed_form_is_refused_and_nothing_changes(case, run, snapshot):
    run(import_data, good())
    before = snapshot()
    data = good()
    data["programmes"][1]["name"] = "Changed by a bad file"  # a valid change that must not be applied
    data["programmes"][1]["form"] = copy.deepcopy(EVENT_FORM)
    change, message = REFUSED[case]
    change(data)

    with pytest.raises(ImportProblem) as info:
        run(import_data, data)

    assert info.value.message.startswith(message), info.value.message
    assert snapshot() == before


# --- portal export form, and the round trip ---------------------------------------------------


def export(capsys, name: str, *extra: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert cli.main(["export", "form", name, *extra]) == 0
    out, err = capsys.readouterr()
    return {"json": json.loads(out) if out else None, "said": err}


def test_export_writes_a_programme_s_form_or_the_form_an_event_uses(run, portal_env, capsys):
    run(import_data, good())

    tatc = export(capsys, "tatc")
    assert tatc["json"] == {"organisation_required": True, "form": FORM}
    assert "wrote the form of programme 'tatc' (6 questions) to standard output" in tatc["said"]
    # An event without a form of its own: its programme's form.
    run_of_tatc = export(capsys, "tatc-2027-03")
    assert run_of_tatc["json"] == tatc["json"]
    assert "event 'tatc-2027-03': the form of its programme 'tatc'" in run_of_tatc["said"]
    # Its own.
    assert export(capsys, "osint-2027")["json"] == {"organisation_required": False, "form": EVENT_FORM}
    # A programme without a form, and its runs: the site's default.
    iccs = export(capsys, "iccs")
    assert iccs["json"] == {"organisation_required": False, "form": DEFAULT_FORM}
    assert "no form of its own" in iccs["said"]
    assert export(capsys, "event:iccs-2027")["json"]["form"] == DEFAULT_FORM

    assert export(capsys, "tatc", "-o", "tatc-form.json")["json"] is None
    assert json.loads((portal_env / "tatc-form.json").read_text(encoding="utf-8")) == tatc["json"]


def test_export_names_what_it_cannot_find(run, portal_env, capsys, make_event):
    run(import_data, good())
    assert cli.main(["export", "form", "nope"]) == 2
    assert "portal export form: 'nope' is neither a programme's code nor an event's slug" in capsys.readouterr().err
    assert cli.main(["export", "form", "event:tatc"]) == 2
    assert "'tatc' is not an event's slug" in capsys.readouterr().err
    # A code that is also a slug: said which, or refused.
    make_event(slug="tatc")
    assert cli.main(["export", "form", "tatc", "-o", "out.json"]) == 2
    assert "is both a programme's code and an event's slug: say programme:tatc or event:tatc" in capsys.readouterr().err
    assert not (portal_env / "out.json").exists()
    assert export(capsys, "programme:tatc")["json"]["form"] == FORM


@pytest.fixture
def other_database(_template: str, tmp_path: Path) -> Iterator[str]:  # type: ignore[misc]
    """Another installation's database, migrated and empty but for the default form."""
    if not PG_URL:
        path = tmp_path / "other.sqlite3"
        shutil.copyfile(_template, path)
        yield f"sqlite:///{path}"
        return
    with scratch_postgres("portal_other") as url:
        migrate.upgrade(url)
        yield url


def test_an_exported_form_imports_into_another_database_as_the_same_form(run, portal_env, capsys, monkeypatch, other_database):
    data = good()
    data["programmes"][0]["form"] = [*copy.deepcopy(FORM), {"key": "note", "type": "textarea", "label": "Notes", "min_length": 2,
                                             "help": "Anything <b>we</b> should know", "editable": False}]
    run(import_data, data)
    programme = export(capsys, "tatc")["json"]
    event = export(capsys, "osint-2027")["json"]

    engine = make_engine(other_database, pool_size=1)
    try:
        sessions = make_session_factory(engine)
        there = {
            "programmes": [{"code": "tatc", "name": "TATC", "admission": "application", **programme}],
            "events": [{**GOOD["events"][1], **event}],
        }
        assert run_unit_of_work(sessions, import_data, there).forms_saved == 2
        monkeypatch.setenv("PORTAL_DATABASE_URL", other_database)
        assert export(capsys, "tatc")["json"] == programme
        assert export(capsys, "osint-2027")["json"] == event
        with sessions() as session:
            copied = definition(find_form(session, Owner(programme_id=session.scalar(select(Programme.id)))))
        assert copied == FormDefinition(parse_form(data["programmes"][0]["form"]).questions, organisation_required=True)
        # Imported there once more, it changes nothing.
        assert run_unit_of_work(sessions, import_data, there).forms_saved == 0
    finally:
        engine.dispose()


# --- the demo's forms -------------------------------------------------------------------------


def _migration_0009() -> Any:
    path = Path(migrate.__file__).resolve().parent.parent / "migrations" / "versions" / "20261207_0009_registration_forms.py"
    spec = importlib.util.spec_from_file_location("migration_0009", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_s_forms_keep_today_s_questions_and_show_off_the_types(run, sessions):
    report, _ = run(demo.load)
    assert report.forms_saved == 7  # six programmes and one event of its own
    migration = _migration_0009()
    with sessions() as session:
        programmes = session.scalars(select(Programme).order_by(Programme.code)).all()
        forms = {p.code: definition(find_form(session, Owner(programme_id=p.id))) for p in programmes}
        osint = session.scalars(select(Event).where(Event.slug == "workshop-osint-methods-2027-02")).one()
        assert find_form(session, Owner(event_id=osint.id)) is not None
    assert set(forms) == {"appsmo", "appsno", "tatc", "isf-asia", "srp-ep", "iccs"}
    for programme in programmes:
        form = forms[programme.code]
        # Every question 0009 wrote for this programme is there, under its key, as it was.
        for question in parse_form(migration.questions_for(programme.code, programme.admission.value)).questions:
            assert form.by_key().get(question.key) == question, (programme.code, question.key)
        assert form.organisation_required is (programme.code in migration.ORGANISATION_REQUIRED)
    by_type = {q.type for form in forms.values() for q in form.questions}
    assert by_type == set(TYPES)
    appsmo = forms["appsmo"].by_key()
    assert appsmo["passport"].show_if == ("visa", ("yes",)) and appsmo["dietary"].type == "choice"
    assert [c.places for c in forms["iccs"].by_key()["workshop"].choices if c.places is not None] == [4, 3, 2]
    assert forms["isf-asia"].by_key()["cv"].accept == ("application/pdf",)
    assert {"billing_contact", "billing_email"} <= set(forms["tatc"].by_key())

    again, _ = run(demo.load)
    assert again.forms_saved == 0

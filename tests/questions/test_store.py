"""Where an event's form comes from, and how a change to a form keeps the answers' meaning:
an answered question is retired rather than lost, a picked choice keeps its value, an
answered question keeps its type; the version rises and the audit log hears of a change,
and only of a real one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.models import AuditActor, AuditEntry, Questionnaire, Registration
from portal.questions.schema import FormDefinitionError, parse_form
from portal.questions.store import Owner, definition, definition_for_event, find_form, form_for_event, save_form

RANK = {"key": "rank", "type": "text", "label": "Rank", "required": True, "max_length": 100}
NOTE = {"key": "note", "type": "text", "label": "Anything else?"}
DIETARY = {"key": "dietary", "type": "choice", "label": "Dietary requirement",
           "choices": [{"value": "none", "label": "None"}, {"value": "halal", "label": "Halal"}, {"value": "vegan", "label": "Vegan"}]}
THEMES = {"key": "themes", "type": "multichoice", "label": "Themes",
          "choices": [{"value": "sea", "label": "Maritime"}, {"value": "cyber", "label": "Cyber"}, {"value": "space", "label": "Space"}]}


@pytest.fixture
def save(run):  # type: ignore[no-untyped-def]
    """save(owner, questions, **options): save_form from the command line, as a service call."""

    def _save(owner: Owner, items: list[dict[str, Any]], *, organisation_required: bool = False, **options: Any) -> Questionnaire:
        return run(save_form, None, owner, parse_form(items, organisation_required=organisation_required), **options)

    return _save


@pytest.fixture
def stored(sessions):  # type: ignore[no-untyped-def]
    """stored(owner): the owner's form as it is in the database, or None."""

    def _stored(owner: Owner) -> Questionnaire | None:
        with sessions() as session:
            return find_form(session, owner)

    return _stored


@pytest.fixture
def audit_entries(sessions):  # type: ignore[no-untyped-def]
    def _entries() -> list[AuditEntry]:
        with sessions() as session:
            return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "form.update").order_by(AuditEntry.id)))

    return _entries


@pytest.fixture
def programme_event(make_programme, make_event):  # type: ignore[no-untyped-def]
    """A programme with one run: (its owner, the event)."""
    programme = make_programme()
    return Owner(programme_id=programme.id), make_event(programme_id=programme.id)


def keys(row: Questionnaire | None) -> list[tuple[str, bool]]:
    return [(q.key, q.retired) for q in definition(row).questions]


def test_an_event_uses_its_own_form_else_its_programme_s_else_the_default(sessions, save, make_programme, make_event):
    save(Owner(), [{"key": "position", "type": "text", "label": "Position"}])
    programme = make_programme()
    plain = make_event()
    run_of_programme = make_event(programme_id=programme.id)
    with_its_own = make_event(programme_id=programme.id)

    def used(event) -> list[str]:  # type: ignore[no-untyped-def]
        with sessions() as session:
            return [q.key for q in definition_for_event(session, event).questions]

    # A programme without a form of its own: its runs use the default.
    assert used(run_of_programme) == ["position"]
    save(Owner(programme_id=programme.id), [RANK])
    save(Owner(event_id=with_its_own.id), [NOTE])
    assert used(plain) == ["position"]
    assert used(run_of_programme) == ["rank"]
    assert used(with_its_own) == ["note"]
    with sessions() as session:
        own = form_for_event(session, with_its_own)
        assert own is not None and own.event_id == with_its_own.id and own.programme_id is None
        default = form_for_event(session, plain)
        assert default is not None and (default.event_id, default.programme_id) == (None, None)


def test_a_removed_question_with_answers_is_retired_and_one_without_is_dropped(
    save, stored, programme_event, make_registration, sessions
):
    owner, event = programme_event
    save(owner, [{"type": "heading", "label": "About you"}, RANK, NOTE, DIETARY])
    registration = make_registration(event, answers={"rank": "Colonel", "dietary": "halal"})

    save(owner, [{"type": "heading", "label": "About you"}, DIETARY])

    assert keys(stored(owner)) == [("", False), ("dietary", False), ("rank", True)]
    form = definition(stored(owner))
    assert [q.key for q in form.live()] == ["", "dietary"]  # new registrants are not asked
    assert [q.key for q in form.answer_questions()] == ["dietary", "rank"]  # rosters keep it, last
    assert form.by_key()["rank"].label == "Rank"
    with sessions() as session:
        assert session.get(Registration, registration.id).answers == {"rank": "Colonel", "dietary": "halal"}

    # Saving the same list again keeps it retired; putting it back in brings it back to life.
    save(owner, [{"type": "heading", "label": "About you"}, DIETARY])
    assert keys(stored(owner)) == [("", False), ("dietary", False), ("rank", True)]
    save(owner, [RANK, DIETARY])
    assert keys(stored(owner)) == [("rank", False), ("dietary", False)]


def test_deleting_an_answered_question_is_refused_unless_it_may_be_retired(save, stored, programme_event, make_registration):
    owner, event = programme_event
    save(owner, [NOTE, RANK])
    make_registration(event, answers={"rank": "Captain"})
    version = stored(owner).version

    with pytest.raises(FormDefinitionError) as info:
        save(owner, [NOTE], retire_removed=False)

    assert "form[1] (key 'rank'): has answers, so it cannot be deleted; retire it instead" in info.value.message
    assert info.value.key == "rank"
    assert keys(stored(owner)) == [("note", False), ("rank", False)]
    assert stored(owner).version == version
    # Unanswered, it may go.
    save(owner, [RANK], retire_removed=False)
    assert keys(stored(owner)) == [("rank", False)]


def test_a_picked_choice_keeps_its_value_but_may_be_relabelled(save, stored, programme_event, make_registration):
    owner, event = programme_event
    save(owner, [DIETARY, THEMES])
    make_registration(event, answers={"dietary": "halal", "themes": ["sea", "cyber"]})

    without_halal = dict(DIETARY, choices=[c for c in DIETARY["choices"] if c["value"] != "halal"])
    with pytest.raises(FormDefinitionError) as info:
        save(owner, [without_halal, THEMES])
    assert "form[0] (key 'dietary'): the choice 'halal' has been picked, so it must stay (its label may change)" in info.value.message
    assert (info.value.key, info.value.field) == ("dietary", "choices")

    # A pick in a multiple choice holds its value as well.
    without_cyber = dict(THEMES, choices=[c for c in THEMES["choices"] if c["value"] != "cyber"])
    with pytest.raises(FormDefinitionError, match="the choice 'cyber' has been picked"):
        save(owner, [DIETARY, without_cyber])
    # Nor may a picked value be renamed, even under the same label.
    renamed_value = dict(DIETARY, choices=[{"value": "halal_food", "label": "Halal"}, *DIETARY["choices"][:1]])
    with pytest.raises(FormDefinitionError, match="'halal'"):
        save(owner, [renamed_value, THEMES])
    assert definition(stored(owner)).by_key()["dietary"].choices == parse_form([DIETARY]).questions[0].choices

    relabelled = dict(DIETARY, choices=[{"value": "none", "label": "None"}, {"value": "halal", "label": "Halal (certified)"}])
    save(owner, [relabelled, THEMES])  # the unpicked "vegan" may go; "halal" takes a new label
    dietary = definition(stored(owner)).by_key()["dietary"]
    assert [(c.value, c.label) for c in dietary.choices] == [("none", "None"), ("halal", "Halal (certified)")]


def test_an_answered_question_keeps_its_type_but_text_and_long_text_trade(save, stored, programme_event, make_registration):
    owner, event = programme_event
    save(owner, [RANK, NOTE])
    make_registration(event, answers={"rank": "Major"})

    with pytest.raises(FormDefinitionError) as info:
        save(owner, [{"key": "rank", "type": "number", "label": "Rank"}, NOTE])
    assert "form[0] (key 'rank'): has answers as a text question, so its type cannot change to number" in info.value.message
    assert (info.value.key, info.value.field) == ("rank", "type")

    save(owner, [dict(RANK, type="textarea"), NOTE])
    assert definition(stored(owner)).by_key()["rank"].type == "textarea"
    save(owner, [RANK, NOTE])
    assert definition(stored(owner)).by_key()["rank"].type == "text"
    # Nobody answered the note: it may become anything.
    save(owner, [RANK, {"key": "note", "type": "yesno", "label": "Anything else?"}])
    assert definition(stored(owner)).by_key()["note"].type == "yesno"


def test_answers_to_an_event_s_own_form_do_not_hold_its_programme_s_question(
    save, stored, programme_event, make_event, make_registration
):
    owner, _ = programme_event
    save(owner, [RANK, NOTE])
    other = make_event(programme_id=owner.programme_id)
    save(Owner(event_id=other.id), [RANK])
    make_registration(other, answers={"rank": "Admiral"})  # answered the event's own form

    save(owner, [NOTE])

    assert keys(stored(owner)) == [("note", False)]
    with pytest.raises(FormDefinitionError, match="has answers"):
        save(Owner(event_id=other.id), [NOTE], retire_removed=False)


def test_the_version_rises_and_the_audit_log_hears_only_of_a_change(save, stored, programme_event, make_registration, audit_entries):
    owner, event = programme_event
    first = save(owner, [RANK, DIETARY])
    assert first.version == 1
    assert len(audit_entries()) == 1
    make_registration(event, answers={"rank": "Wing Commander Secretsson", "dietary": "halal"})

    again = save(owner, [RANK, DIETARY])  # the same form: nothing happens
    assert again.version == 1 and stored(owner).version == 1
    assert len(audit_entries()) == 1

    save(owner, [dict(RANK, label="Rank or grade"), DIETARY], organisation_required=True)
    row = stored(owner)
    assert row.version == 2 and row.organisation_required is True
    entries = audit_entries()
    assert len(entries) == 2
    entry = entries[-1]
    assert entry.actor == AuditActor.COMMAND_LINE and entry.organiser_id is None
    assert entry.before["questions"] == ["rank (text): Rank", "dietary (choice): Dietary requirement"]
    assert entry.after["questions"] == ["rank (text): Rank or grade", "dietary (choice): Dietary requirement"]
    assert (entry.after["form"], entry.after["programme_id"], entry.after["organisation_required"]) == ("programme", owner.programme_id, True)
    # Keys and labels only: no answer is ever in the log.
    logged = json.dumps([entry.before, entry.after])
    assert "Secretsson" not in logged and "halal" not in logged

    # Only the flag changes: a change too.
    save(owner, [dict(RANK, label="Rank or grade"), DIETARY], organisation_required=False)
    assert stored(owner).version == 3 and len(audit_entries()) == 3


def test_a_new_form_is_logged_with_nothing_before(save, make_event, audit_entries, sessions):
    event = make_event()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Questionnaire).where(Questionnaire.event_id == event.id)) == 0
    save(Owner(event_id=event.id), [NOTE])
    (entry,) = audit_entries()
    assert entry.event_id == event.id
    assert entry.before == {}
    assert entry.after["form"] == "event" and entry.after["questions"] == ["note (text): Anything else?"]


def test_a_question_only_ever_left_blank_holds_no_answer(run, sessions, make_event):  # type: ignore[no-untyped-def]
    """Blank answers ('' for text, no picks for a multiple choice) hold nothing to lose."""
    from portal.questions.store import answered

    event = make_event()
    owner = Owner(event_id=event.id)
    with sessions.begin() as session:
        session.add_all([
            Registration(event_id=event.id, email="a@example.org", name="A", status="confirmed", token="t-blank-a",
                         answers={"notes": "", "topics": []}),
            Registration(event_id=event.id, email="b@example.org", name="B", status="confirmed", token="t-blank-b",
                         answers={"dietary": "Vegetarian", "notes": ""}),
        ])
    assert run(answered, owner, "dietary")
    assert not run(answered, owner, "notes")
    assert not run(answered, owner, "topics")
    assert not run(answered, owner, "never_asked")


def test_the_default_form_s_answers_include_runs_of_programmes_without_a_form(run, sessions, make_programme, make_event):  # type: ignore[no-untyped-def]
    """A programme with no form of its own uses the default: its runs' answers are the
    default form's, and keep its questions from being deleted."""
    from portal.questions.store import answered

    programme = make_programme()
    event = make_event(programme_id=programme.id)
    with sessions.begin() as session:
        session.add(Registration(event_id=event.id, email="a@example.org", name="A", status="confirmed", token="t-default-a",
                                 answers={"position": "Analyst"}))
    assert run(answered, Owner(), "position")


def test_the_default_form_s_answers_leave_out_runs_of_programmes_with_their_own_form(run, sessions, save, make_programme, make_event):  # type: ignore[no-untyped-def]
    """Answers given under a programme's own form are that form's: they do not stop the
    default form from dropping a question of the same key."""
    from portal.questions.store import answered

    programme = make_programme()
    save(Owner(programme_id=programme.id), [{"key": "position", "type": "text", "label": "Rank and post"}])
    event = make_event(programme_id=programme.id)
    with sessions.begin() as session:
        session.add(Registration(event_id=event.id, email="a@example.org", name="A", status="confirmed", token="t-own-a",
                                 answers={"position": "Analyst"}))
    assert not run(answered, Owner(), "position")
    save(Owner(), [{"key": "position", "type": "text", "label": "Position"}])
    save(Owner(), [{"key": "notes", "type": "text", "label": "Notes"}], retire_removed=False)  # not refused

"""The form builder in the back office: an organiser builds a programme's form, an event's own
form and the site's default form question by question, without JavaScript; every change is
saved through the store (version, audit log) and what cannot work is refused with the
message on the field."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Questionnaire
from portal.questions import store
from portal.questions.schema import FormDefinition, parse_form
from portal.questions.store import Owner
from tests.web.backoffice.conftest import post, token

HOSTILE = '<script>alert("label")</script>'


def stamp_of(page: str) -> str:
    match = re.search(r'name="stamp" value="([^"]+)"', page)
    assert match, "the page has no stamp"
    return match.group(1)


def definition_of(sessions, owner: Owner) -> FormDefinition:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return store.definition(store.find_form(session, owner))


def form_row(sessions, owner: Owner) -> Questionnaire | None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return store.find_form(session, owner)


def add(client, ref: str, kind: str, **fields: Any):  # type: ignore[no-untyped-def]
    """Add a question through the builder's two steps, as a browser would."""
    page = client.get(f"/admin/forms/{ref}/questions/new?type={kind}")
    assert page.status_code == 200, page.text
    data = {"csrf_token": token(client, f"/admin/forms/{ref}"), "stamp": stamp_of(page.text), "editable": "y", **fields}
    # The "Sensitive" box as the page ticks it (a file's); its suggestion from the label taken as seen.
    if re.search(r'<input(?=[^>]*\bid="sensitive")[^>]*\bchecked', page.text):
        data.setdefault("sensitive", "y")
    data.setdefault("sensitive_seen", "1")
    return client.post(f"/admin/forms/{ref}/questions/new?type={kind}", data=data)


def edit(client, ref: str, index: int, **fields: Any):  # type: ignore[no-untyped-def]
    page = client.get(f"/admin/forms/{ref}/questions/{index}")
    assert page.status_code == 200, page.text
    data = {"csrf_token": token(client, f"/admin/forms/{ref}"), "stamp": stamp_of(page.text), **fields}
    # A browser sends every select: the type's, where a text question can become a long one.
    chosen = re.search(r'<select id="type" name="type">.*?<option selected value="(\w+)"', page.text, re.DOTALL)
    if chosen:
        data.setdefault("type", chosen.group(1))
    if re.search(r'<input(?=[^>]*\bid="sensitive")[^>]*\bchecked', page.text):
        data.setdefault("sensitive", "y")
    return client.post(f"/admin/forms/{ref}/questions/{index}", data=data)


def change(client, ref: str, index: int, action: str, **fields: Any):  # type: ignore[no-untyped-def]
    page = client.get(f"/admin/forms/{ref}")
    data = {"csrf_token": token(client, f"/admin/forms/{ref}"), "stamp": stamp_of(page.text), "action": action, **fields}
    return client.post(f"/admin/forms/{ref}/questions/{index}/change", data=data)


def delete(client, ref: str, index: int):  # type: ignore[no-untyped-def]
    """Delete as a browser does: the button, then the button of the page that asks."""
    asked = change(client, ref, index, "delete")
    assert asked.status_code == 200, asked.text
    data = {"csrf_token": token(client, f"/admin/forms/{ref}"), "stamp": stamp_of(asked.text), "action": "delete", "confirmed": "y"}
    return client.post(f"/admin/forms/{ref}/questions/{index}/change", data=data)


def block(page: str, index: int) -> str:
    """The builder page's block of question `index`."""
    match = re.search(rf'<li id="q-{index}".*?</li>\s*(?=<li id="q-|</ol>)', page, re.DOTALL)
    assert match, f"no question {index} on the page"
    return match.group(0)


def note_of(page: str, index: int) -> tuple[str, str] | None:
    """(role, text) of the note shown on question `index`, if any."""
    match = re.search(r'<div class="notice [^"]*question-note" role="(\w+)">(.*?)</div>', block(page, index), re.DOTALL)
    return (match.group(1), " ".join(html.unescape(re.sub(r"<[^>]+>", "", match.group(2))).split())) if match else None


def before_questions(page: str) -> str:
    return page.split('id="questions-heading"', 1)[0]


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<small id="{field}-error" class="field-error">(.*?)</small>', page, re.DOTALL)
    assert match, f"no error on {field}"
    return html.unescape(match.group(1))


def keys(definition: FormDefinition) -> list[str]:
    return [q.key or q.type for q in definition.questions]


@pytest.fixture
def programme(make_programme):  # type: ignore[no-untyped-def]
    return make_programme(code="appsmo", name="APPSMO")


def test_an_organiser_builds_a_programme_form(organiser_client, programme, sessions):
    ref = "programme-appsmo"
    page = organiser_client.get(f"/admin/forms/{ref}")
    assert page.status_code == 200
    # No form of its own yet: the default's questions, and what the first change does.
    assert "Position or job title" in page.text and "no form of its own yet" in page.text
    assert form_row(sessions, Owner(programme_id=programme.id)) is None

    response = add(
        organiser_client, ref, "choice", key="workshop", label="Workshop", required="y", widget="radio",
        choices="a | Workshop A | 20\nb | Workshop B | 5\nnone | No workshop",
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"/admin/forms/{ref}#q-1")
    assert add(organiser_client, ref, "yesno", key="visa", label="Do you need a visa support letter?").status_code == 303
    assert add(
        organiser_client, ref, "text", key="passport", label="Passport number", required="y", max_length="20", show_if="visa=yes",
    ).status_code == 303
    assert add(organiser_client, ref, "multichoice", key="meals", label="Meals", choices="lunch | Lunch\ndinner | Dinner", max_choices="2").status_code == 303
    assert add(organiser_client, ref, "file", key="cv", label="CV", accept=["application/pdf", "image/png"], max_mb="2.5").status_code == 303

    row = form_row(sessions, Owner(programme_id=programme.id))
    definition = store.definition(row)
    assert keys(definition) == ["position", "workshop", "visa", "passport", "meals", "cv"]
    workshop = definition.by_key()["workshop"]
    assert [(c.value, c.label, c.places) for c in workshop.choices] == [("a", "Workshop A", 20), ("b", "Workshop B", 5), ("none", "No workshop", None)]
    assert workshop.required and workshop.widget == "radio" and workshop.editable
    assert definition.by_key()["passport"].show_if == ("visa", ("yes",))
    assert definition.by_key()["passport"].max_length == 20
    assert definition.by_key()["cv"].accept == ("application/pdf", "image/png") and definition.by_key()["cv"].max_bytes == 2_500_000
    # The first change copied the default (version 1), then each question added one.
    assert row.version == 6
    with sessions() as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions.count("form.copy") == 1 and actions.count("form.update") == 5

    page = organiser_client.get(f"/admin/forms/{ref}")
    assert "Workshop A" in page.text and "20 places" in page.text and "5 places" in page.text
    assert "Only if you answered Yes to “Do you need a visa support letter?”." in page.text
    assert "no form of its own yet" not in page.text and "Version 6" in page.text


def test_a_question_is_edited_in_place(organiser_client, programme, sessions):
    ref = "programme-appsmo"
    add(organiser_client, ref, "text", key="rank", label="Rank", required="y")
    add(organiser_client, ref, "text", key="unit", label="Unit")
    response = edit(organiser_client, ref, 1, key="rank", label="Military rank", type="textarea", min_length="2", max_length="50", help="As on your ID.")
    assert response.status_code == 303, response.text
    definition = definition_of(sessions, Owner(programme_id=programme.id))
    rank = definition.questions[1]
    assert (rank.key, rank.label, rank.type, rank.min_length, rank.max_length, rank.help) == ("rank", "Military rank", "textarea", 2, 50, "As on your ID.")
    # Unticked boxes are sent as nothing: required and editable are now off.
    assert not rank.required and not rank.editable
    assert keys(definition) == ["position", "rank", "unit"]
    # The edit page shows what is stored.
    page = organiser_client.get(f"/admin/forms/{ref}/questions/1")
    assert 'value="Military rank"' in page.text and "As on your ID." in page.text


def test_what_cannot_work_is_refused_on_its_field(organiser_client, programme, sessions):
    ref = "programme-appsmo"
    add(organiser_client, ref, "yesno", key="visa", label="Visa letter?")
    add(organiser_client, ref, "text", key="passport", label="Passport", show_if="visa=yes")
    version = form_row(sessions, Owner(programme_id=programme.id)).version

    duplicate = add(organiser_client, ref, "text", key="visa", label="Another")
    assert duplicate.status_code == 422
    assert "is used by an earlier question" in field_error(duplicate.text, "key")
    assert 'value="Another"' in duplicate.text  # what was typed stays

    negative = add(organiser_client, ref, "choice", key="workshop", label="Workshop", choices="a | A | 5\nb | B | -3")
    assert negative.status_code == 422
    assert "places must be a whole number, 0 or more" in field_error(negative.text, "choices")

    not_a_number = add(organiser_client, ref, "choice", key="workshop", label="Workshop", choices="a | A | many")
    assert not_a_number.status_code == 422
    assert "Line 1: places must be a whole number" in field_error(not_a_number.text, "choices")

    backwards = add(organiser_client, ref, "text", key="motto", label="Motto", min_length="10", max_length="5")
    assert backwards.status_code == 422
    assert "“Fewest characters” (10) is above “Most characters” (5)." == field_error(backwards.text, "min_length")

    picks = add(organiser_client, ref, "multichoice", key="days", label="Days", choices="mon\ntue", min_choices="2", max_choices="1")
    assert picks.status_code == 422 and "above" in field_error(picks.text, "min_choices")

    numbers = add(organiser_client, ref, "number", key="age", label="Age", min="60", max="18")
    assert numbers.status_code == 422 and "“Smallest” (60) is above “Largest” (18)." == field_error(numbers.text, "min")
    fraction = add(organiser_client, ref, "number", key="age", label="Age", min="1.5")
    assert fraction.status_code == 422 and "whole number" in field_error(fraction.text, "min")
    dates = add(organiser_client, ref, "date", key="arrival", label="Arrival", min="2027-03-09", max="2027-03-01")
    assert dates.status_code == 422 and "above" in field_error(dates.text, "min")
    too_large = add(organiser_client, ref, "file", key="cv", label="CV", accept="application/pdf", max_mb="50")
    assert too_large.status_code == 422 and "20 MB" in field_error(too_large.text, "max_mb")
    no_type = add(organiser_client, ref, "file", key="cv", label="CV")
    assert no_type.status_code == 422 and field_error(no_type.text, "accept")
    reserved = add(organiser_client, ref, "text", key="email", label="Email again")
    assert reserved.status_code == 422 and "taken by the registration's own fields" in field_error(reserved.text, "key")
    bad_key = add(organiser_client, ref, "text", key="Rank!", label="Rank")
    assert bad_key.status_code == 422 and "lower-case letter" in field_error(bad_key.text, "key")

    # A condition on a question that is not a choice (posted by hand: the page offers none).
    on_text = add(organiser_client, ref, "text", key="more", label="More", show_if="passport=x")
    assert on_text.status_code == 422 and field_error(on_text.text, "show_if")
    # A condition on a later question: question 1 (visa) may not depend on question 2.
    later = edit(organiser_client, ref, 1, key="visa", label="Visa letter?", show_if="passport=x")
    assert later.status_code == 422 and field_error(later.text, "show_if")
    # Two questions at once.
    add(organiser_client, ref, "yesno", key="hotel", label="Hotel?")
    both = add(organiser_client, ref, "text", key="more", label="More", show_if=["visa=yes", "hotel=no"])
    assert both.status_code == 422 and "one earlier question" in field_error(both.text, "show_if")

    # Moving the conditional question above the one it depends on is refused, and said on it.
    moved = change(organiser_client, ref, 2, "up")
    assert moved.status_code == 303 and moved.headers["location"].endswith("#q-2")
    shown = organiser_client.get(moved.headers["location"])
    assert note_of(shown.text, 2) == (
        "alert",
        ("Not changed. “Passport” is shown only on an answer to “Visa letter?”, so it must stay below it: "
        "change or remove its condition first."),
    )

    definition = definition_of(sessions, Owner(programme_id=programme.id))
    assert keys(definition) == ["position", "visa", "passport", "hotel"]
    assert form_row(sessions, Owner(programme_id=programme.id)).version == version + 1  # only the hotel question


def test_move_retire_and_delete(organiser_client, programme, make_event, make_registration, sessions):
    ref = "programme-appsmo"
    add(organiser_client, ref, "heading", label="About your service")
    add(organiser_client, ref, "text", key="rank", label="Rank")
    add(organiser_client, ref, "text", key="unit", label="Unit")
    owner = Owner(programme_id=programme.id)

    assert change(organiser_client, ref, 3, "up").status_code == 303
    assert keys(definition_of(sessions, owner)) == ["position", "heading", "unit", "rank"]
    response = change(organiser_client, ref, 0, "down")
    assert response.headers["location"].endswith("#q-1")
    assert keys(definition_of(sessions, owner)) == ["heading", "position", "unit", "rank"]
    # The first cannot go up.
    change(organiser_client, ref, 0, "up")
    assert keys(definition_of(sessions, owner)) == ["heading", "position", "unit", "rank"]

    # Somebody answers "rank" at a run of the programme: it can be retired, not deleted.
    event = make_event(programme_id=programme.id)
    make_registration(event, answers={"rank": "Colonel"})
    page = organiser_client.get(f"/admin/forms/{ref}")
    assert "Has answers" in page.text
    assert "Delete" not in block(page.text, 3)  # the page offers no Delete for it
    asked = change(organiser_client, ref, 3, "delete")
    assert asked.status_code == 200 and "cannot be deleted: retire it instead" in asked.text
    assert 'name="confirmed"' not in asked.text and 'value="retire"' in asked.text
    refused = change(organiser_client, ref, 3, "delete", confirmed="y")  # sent by hand
    assert refused.status_code == 303 and refused.headers["location"].endswith("#q-3")
    shown = organiser_client.get(refused.headers["location"]).text
    assert note_of(shown, 3) == ("alert", "Not changed. “Rank”: has answers, so it cannot be deleted; retire it instead.")
    assert keys(definition_of(sessions, owner)) == ["heading", "position", "unit", "rank"]

    change(organiser_client, ref, 3, "retire")
    assert definition_of(sessions, owner).by_key()["rank"].retired
    page = organiser_client.get(f"/admin/forms/{ref}")
    assert "Retired" in page.text and "Ask it again" in page.text
    change(organiser_client, ref, 3, "unretire")
    assert not definition_of(sessions, owner).by_key()["rank"].retired

    # "unit" has no answers: deleted, once confirmed.
    deleted = delete(organiser_client, ref, 2)
    assert "Deleted “Unit”." in organiser_client.get(deleted.headers["location"]).text
    assert keys(definition_of(sessions, owner)) == ["heading", "position", "rank"]


def test_a_key_with_answers_cannot_change(organiser_client, programme, make_event, make_registration, sessions):
    ref = "programme-appsmo"
    add(organiser_client, ref, "text", key="rank", label="Rank")
    make_registration(make_event(programme_id=programme.id), answers={"rank": "Major"})
    response = edit(organiser_client, ref, 1, key="grade", label="Rank")
    assert response.status_code == 422
    assert "cannot change" in field_error(response.text, "key")
    # Its label can.
    assert edit(organiser_client, ref, 1, key="rank", label="Rank or grade", editable="y").status_code == 303
    assert definition_of(sessions, Owner(programme_id=programme.id)).by_key()["rank"].label == "Rank or grade"


def test_an_event_gets_its_own_form_and_gives_it_back(organiser_client, programme, make_event, make_registration, sessions):
    add(organiser_client, "programme-appsmo", "text", key="rank", label="Rank")
    event = make_event(programme_id=programme.id, slug="appsmo-2027")
    ref = "event-appsmo-2027"
    assert f'href="http://testserver/admin/forms/{ref}"' in organiser_client.get("/admin/events/appsmo-2027").text

    page = organiser_client.get(f"/admin/forms/{ref}")
    assert "This event uses its programme&#39;s form" in page.text and "Give this event its own form" in page.text
    assert "Rank" in page.text and "Move up" not in page.text
    # Not its own yet: nothing to change here.
    assert organiser_client.get(f"/admin/forms/{ref}/questions/new?type=text").status_code == 400

    given = post(organiser_client, f"/admin/forms/{ref}/own")
    assert given.status_code == 303
    own = Owner(event_id=event.id)
    assert keys(definition_of(sessions, own)) == ["position", "rank"]
    add(organiser_client, ref, "yesno", key="dinner", label="Dinner?")
    assert keys(definition_of(sessions, own)) == ["position", "rank", "dinner"]
    assert keys(definition_of(sessions, Owner(programme_id=programme.id))) == ["position", "rank"]
    page = organiser_client.get(f"/admin/forms/{ref}")
    assert "Use the programme&#39;s form again" in page.text

    back = post(organiser_client, f"/admin/forms/{ref}/inherit")
    assert back.status_code == 303
    assert form_row(sessions, own) is None

    # Once its own form has answers, it stays.
    post(organiser_client, f"/admin/forms/{ref}/own")
    make_registration(event, answers={"rank": "Captain"})
    kept = post(organiser_client, f"/admin/forms/{ref}/inherit")
    assert "has answers" in organiser_client.get(kept.headers["location"]).text
    assert form_row(sessions, own) is not None


def test_the_default_form_and_copies(organiser_client, make_programme, sessions):
    add(organiser_client, "default", "text", key="diet", label="Dietary needs")
    assert keys(definition_of(sessions, Owner())) == ["position", "diet"]
    source = make_programme(code="isf-asia", name="ISF-Asia")
    target = make_programme(code="tatc", name="TATC")
    add(organiser_client, "programme-isf-asia", "textarea", key="statement", label="Statement of purpose")

    page = organiser_client.get("/admin/forms/programme-tatc/copy")
    assert "Programme: ISF-Asia" in page.text and "The site&#39;s default form" in page.text
    response = post(organiser_client, "/admin/forms/programme-tatc/copy", {"source": "programme-isf-asia"}, token_from="/admin/forms/programme-tatc/copy")
    assert response.status_code == 303
    assert keys(definition_of(sessions, Owner(programme_id=target.id))) == ["position", "diet", "statement"]
    assert keys(definition_of(sessions, Owner(programme_id=source.id))) == ["position", "diet", "statement"]
    unknown = post(organiser_client, "/admin/forms/programme-tatc/copy", {"source": "programme-nowhere"}, token_from="/admin/forms/programme-tatc/copy")
    assert unknown.status_code == 422


def test_organisation_required(organiser_client, programme, sessions):
    ref = "programme-appsmo"
    page = organiser_client.get(f"/admin/forms/{ref}")
    data = {"csrf_token": token(organiser_client, f"/admin/forms/{ref}"), "stamp": stamp_of(page.text), "organisation_required": "y"}
    assert organiser_client.post(f"/admin/forms/{ref}/settings", data=data).status_code == 303
    assert definition_of(sessions, Owner(programme_id=programme.id)).organisation_required


def test_a_change_from_an_out_of_date_page_is_refused(organiser_client, other_client, organiser, programme, sessions):
    from tests.web.backoffice.conftest import sign_in

    ref = "programme-appsmo"
    add(organiser_client, ref, "text", key="rank", label="Rank")
    old = organiser_client.get(f"/admin/forms/{ref}").text
    assert sign_in(other_client, organiser.email).status_code == 303
    assert change(other_client, ref, 1, "up").status_code == 303  # someone else moves it
    data = {"csrf_token": token(organiser_client, f"/admin/forms/{ref}"), "stamp": stamp_of(old), "action": "delete"}
    refused = organiser_client.post(f"/admin/forms/{ref}/questions/0/change", data=data)
    assert "Someone changed this form after you opened it" in organiser_client.get(refused.headers["location"]).text
    assert keys(definition_of(sessions, Owner(programme_id=programme.id))) == ["rank", "position"]


def test_changes_need_the_csrf_token_and_a_signed_in_organiser(client, organiser_client, programme, sessions):
    page = organiser_client.get("/admin/forms/programme-appsmo/questions/new?type=text")
    data = {"stamp": stamp_of(page.text), "key": "rank", "label": "Rank"}
    assert organiser_client.post("/admin/forms/programme-appsmo/questions/new?type=text", data=data).status_code == 403
    assert form_row(sessions, Owner(programme_id=programme.id)) is None


def test_signed_out_visitors_are_sent_to_sign_in(client, programme):
    response = client.get("/admin/forms/programme-appsmo")
    assert response.status_code == 303 and "/admin/sign-in" in response.headers["location"]


def test_unknown_forms_and_questions_are_not_found(organiser_client, programme):
    assert organiser_client.get("/admin/forms/programme-nowhere").status_code == 404
    assert organiser_client.get("/admin/forms/somewhere").status_code == 404
    assert organiser_client.get("/admin/forms/programme-appsmo/questions/9").status_code == 404
    assert organiser_client.get("/admin/forms/programme-appsmo/questions/new").status_code == 200  # the type picker


def test_the_preview_shows_the_form_as_participants_see_it(organiser_client, programme, run):
    definition = parse_form([
        {"type": "heading", "label": "About your stay"},
        {"key": "visa", "type": "yesno", "label": "Visa letter?"},
        {"key": "passport", "type": "text", "label": "Passport number", "required": True, "show_if": {"visa": ["yes"]}},
        {"key": "workshop", "type": "choice", "label": "Workshop", "choices": [{"value": "a", "label": "Workshop A", "places": 20}]},
        {"key": "old", "type": "text", "label": "Old question", "retired": True},
    ])
    run(store.save_form, None, Owner(programme_id=programme.id), definition)
    page = organiser_client.get("/admin/forms/programme-appsmo/preview")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "About your stay" in text and "Passport number" in text and "Workshop A" in text
    assert "Only if you answered Yes to “Visa letter?”." in text
    assert "Old question" not in text  # retired: new registrants do not see it


def test_hostile_labels_are_escaped_in_the_builder_and_the_preview(organiser_client, programme, sessions):
    ref = "programme-appsmo"
    response = add(
        organiser_client, ref, "choice", key="evil", label=HOSTILE, help='<img src=x onerror="alert(1)">',
        choices=f'a | {HOSTILE} | 3\nb | "><b>bold</b>',
    )
    assert response.status_code == 303
    add(organiser_client, ref, "text", key="follow", label="Follow-up", show_if="evil=a")
    assert definition_of(sessions, Owner(programme_id=programme.id)).by_key()["evil"].label == HOSTILE
    for path in (f"/admin/forms/{ref}", f"/admin/forms/{ref}/preview", f"/admin/forms/{ref}/questions/1", f"/admin/forms/{ref}/questions/2"):
        page = organiser_client.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text and "<img src=x" not in page.text and "<b>bold</b>" not in page.text, path
        assert "&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt;" in page.text, path
    # The flash message after saving names the label, escaped too.
    assert "<script>alert" not in organiser_client.get(response.headers["location"]).text


def test_a_change_is_said_on_the_question_it_was_made_to(organiser_client, programme):
    """The builder goes back to the question (its anchor): the note is there, not at the top."""
    ref = "programme-appsmo"
    added = add(organiser_client, ref, "text", key="rank", label="Rank")
    page = organiser_client.get(added.headers["location"]).text
    assert note_of(page, 1) == ("status", "Added “Rank”.")
    top = before_questions(page)
    assert "question-note" not in top and 'class="notice notice-ok" role="status"' not in top
    # Shown once.
    assert note_of(organiser_client.get(f"/admin/forms/{ref}").text, 1) is None

    moved = change(organiser_client, ref, 1, "up")
    assert moved.headers["location"].endswith("#q-0")
    page = organiser_client.get(moved.headers["location"]).text
    assert note_of(page, 0) == ("status", "Moved up.") and note_of(page, 1) is None

    saved = edit(organiser_client, ref, 0, key="rank", label="Military rank")
    assert saved.headers["location"].endswith("#q-0")
    assert note_of(organiser_client.get(saved.headers["location"]).text, 0) == ("status", "Saved “Military rank”.")

    # A note is for the form it was made on: another form's page does not show it.
    change(organiser_client, ref, 0, "down")
    assert "question-note" not in organiser_client.get("/admin/forms/default").text


def test_a_question_others_depend_on_is_not_retired_or_deleted(organiser_client, programme, sessions):
    ref = "programme-appsmo"
    add(organiser_client, ref, "yesno", key="visa", label="Visa letter?")
    add(organiser_client, ref, "text", key="passport", label="Passport number", show_if="visa=yes")
    owner = Owner(programme_id=programme.id)
    version = form_row(sessions, owner).version

    retired = change(organiser_client, ref, 1, "retire")
    assert retired.status_code == 303 and retired.headers["location"].endswith("#q-1")
    assert note_of(organiser_client.get(retired.headers["location"]).text, 1) == (
        "alert",
        ("Not changed. “Visa letter?” cannot be retired while “Passport number” is shown only on an answer to it: "
        "change or remove its condition first."),
    )
    deleted = delete(organiser_client, ref, 1)
    note = note_of(organiser_client.get(deleted.headers["location"]).text, 1)
    assert note is not None and note[0] == "alert" and "“Visa letter?” cannot be deleted while “Passport number”" in note[1]
    assert not definition_of(sessions, owner).by_key()["visa"].retired
    assert form_row(sessions, owner).version == version

    # Once the condition is gone, it can be retired.
    edit(organiser_client, ref, 2, key="passport", label="Passport number", editable="y")
    assert change(organiser_client, ref, 1, "retire").status_code == 303
    assert definition_of(sessions, owner).by_key()["visa"].retired


def test_the_condition_editor_offers_only_questions_still_asked(organiser_client, programme):
    ref = "programme-appsmo"
    add(organiser_client, ref, "yesno", key="visa", label="Visa letter?")
    add(organiser_client, ref, "choice", key="workshop", label="Workshop", choices="a | Workshop A\nb | Workshop B")
    change(organiser_client, ref, 2, "retire")
    page = organiser_client.get(f"/admin/forms/{ref}/questions/new?type=text").text
    assert 'value="visa=yes"' in page and "workshop=" not in page and "Workshop A" not in page
    # Sent by hand, a condition on the retired question is refused on its field.
    refused = add(organiser_client, ref, "text", key="room", label="Room", show_if="workshop=a")
    assert refused.status_code == 422 and field_error(refused.text, "show_if")


def test_retiring_a_question_frees_the_retired_ones_that_depended_on_it(organiser_client, programme, sessions):
    ref = "programme-appsmo"
    add(organiser_client, ref, "yesno", key="visa", label="Visa letter?")
    add(organiser_client, ref, "text", key="passport", label="Passport number", show_if="visa=yes")
    assert change(organiser_client, ref, 2, "retire").status_code == 303
    retired = change(organiser_client, ref, 1, "retire")
    note = note_of(organiser_client.get(retired.headers["location"]).text, 1)
    assert note is not None and note[0] == "status"
    assert note[1].endswith("“Passport number” (retired already) no longer depends on its answer.")
    by_key = definition_of(sessions, Owner(programme_id=programme.id)).by_key()
    assert by_key["visa"].retired and by_key["passport"].retired and by_key["passport"].show_if is None


def test_delete_asks_first_without_javascript(organiser_client, programme, sessions):
    ref = "programme-appsmo"
    add(organiser_client, ref, "text", key="unit", label="Unit")
    owner = Owner(programme_id=programme.id)
    asked = change(organiser_client, ref, 1, "delete")
    assert asked.status_code == 200
    assert "Delete question 2?" in asked.text and "Delete “Unit”" in asked.text
    assert f'href="http://testserver/admin/forms/{ref}#q-1"' in asked.text  # "Keep it": back to the question
    assert 'name="csrf_token"' in asked.text and 'name="confirmed" value="y"' in asked.text
    assert keys(definition_of(sessions, owner)) == ["position", "unit"]  # nothing deleted yet
    # The confirming button is a form like any other: without its CSRF token nothing happens.
    data = {"stamp": stamp_of(asked.text), "action": "delete", "confirmed": "y"}
    assert organiser_client.post(f"/admin/forms/{ref}/questions/1/change", data=data).status_code == 403
    assert keys(definition_of(sessions, owner)) == ["position", "unit"]
    deleted = delete(organiser_client, ref, 1)
    assert deleted.status_code == 303
    assert keys(definition_of(sessions, owner)) == ["position"]


def test_a_refusal_names_questions_by_their_labels(organiser_client, programme):
    """Not as the import does (form[2] (key 'passport'): …): the builder's pages speak of labels."""
    ref = "programme-appsmo"
    add(organiser_client, ref, "yesno", key="visa", label="Visa letter?")
    add(organiser_client, ref, "text", key="passport", label="Passport number", show_if="visa=yes")
    # A new key for the question another one's condition names: refused, on the page's top.
    response = edit(organiser_client, ref, 1, key="visa_letter", label="Visa letter?")
    assert response.status_code == 422
    problem = re.search(r'<div class="notice notice-error" role="alert"[^>]*><p>(.*?)</p>', response.text, re.DOTALL)
    assert problem, "no problem shown"
    words = html.unescape(problem.group(1))
    assert words.startswith("“Passport number”: its condition names 'visa'") and "form[" not in words

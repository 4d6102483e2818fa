"""Registration forms built from the event's form definition, through the client: every
question type renders and checks its answer, conditions apply on the server without
JavaScript, choices show their places, files are checked from their content and kept only
with a registration, and the manage page changes what the participant may change."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from portal.forms import questions as form_questions
from portal.forms.registration import registration_form
from portal.models import Registration, Upload
from portal.questions.schema import parse_form
from tests.conftest import csrf_from
from tests.web.test_register_web import parse, value_of

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
VALID = {"name": "Ann Lee", "email": "ann@example.org", "consent": "y"}

EVERY_TYPE: list[dict[str, Any]] = [
    {"type": "heading", "label": "About your work"},
    {"type": "info", "label": "We ask this to plan the sessions."},
    {"key": "rank", "type": "text", "label": "Rank", "required": True, "min_length": 2, "max_length": 20, "help": "As on your ID."},
    {"key": "bio", "type": "textarea", "label": "Short biography", "max_length": 50},
    {"key": "assistant", "type": "email", "label": "Assistant's email"},
    {"key": "mobile", "type": "phone", "label": "Mobile number"},
    {"key": "years", "type": "number", "label": "Years of service", "min": 0, "max": 60},
    {"key": "height", "type": "number", "label": "Height in metres", "decimal": True, "min": 0.5, "max": 2.5},
    {"key": "arrival", "type": "date", "label": "Arrival date", "min": "2027-03-01", "max": "2027-03-31"},
    {"key": "nationality", "type": "country", "label": "Nationality"},
    {"key": "dietary", "type": "choice", "label": "Dietary requirement", "widget": "select",
     "choices": [{"value": "none", "label": "None"}, {"value": "halal", "label": "Halal"}]},
    {"key": "topics", "type": "multichoice", "label": "Topics", "required": True, "min_choices": 1, "max_choices": 2,
     "choices": [{"value": "sea", "label": "Maritime"}, {"value": "cyber", "label": "Cyber"}, {"value": "space", "label": "Space"}]},
    {"key": "visa", "type": "yesno", "label": "Do you need a visa support letter?"},
    {"key": "days", "type": "checkbox", "label": "I can attend all five days", "required": True},
    {"key": "cv", "type": "file", "label": "CV", "accept": ["application/pdf"], "max_bytes": 1000},
    {"key": "old", "type": "text", "label": "A question no longer asked", "retired": True},
]
FILLED = {
    "rank": "Colonel", "bio": "Thirty years at sea.", "assistant": "aide@example.org", "mobile": "6790 6982",
    "years": "30", "height": "1.75", "arrival": "2027-03-08", "nationality": "Singapore", "dietary": "halal",
    "topics": ["space", "sea"], "visa": "no", "days": "y",
}

SEALED_NOTE = "Kept encrypted: organisers see it only when they need to, and it is left out of lists and exports."


@pytest.fixture
def form_event(make_event, make_form):  # type: ignore[no-untyped-def]
    """form_event(questions, **event values): an event with its own form."""

    def _make(questions: list[dict[str, Any]], organisation_required: bool = False, **values: Any) -> Any:
        event = make_event(**values)
        make_form(questions, event=event, organisation_required=organisation_required)
        return event

    return _make


@pytest.fixture
def send(client):  # type: ignore[no-untyped-def]
    """send(event, files=None, **fields): load the form, send it with its CSRF token (and VALID)."""

    def _send(event, *, files=None, **fields):  # type: ignore[no-untyped-def]
        page = client.get(f"/events/{event.slug}/register")
        data = {**VALID, **fields, "csrf_token": csrf_from(page.text)}
        return client.post(f"/events/{event.slug}/register", data={k: v for k, v in data.items() if v is not None}, files=files)

    return _send


@pytest.fixture
def rows(sessions):  # type: ignore[no-untyped-def]
    def _rows() -> list[Registration]:
        with sessions() as session:
            return list(session.scalars(select(Registration).order_by(Registration.id)))

    return _rows


@pytest.fixture
def upload_dir(settings) -> Path:  # type: ignore[no-untyped-def]
    return settings.upload_directory


def kept_files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.exists() else []


def errors_of(html: str) -> str:
    """The error summary's text: 'Label: message' per field, then any note."""
    if 'id="form-errors"' not in html:
        return ""
    return unescape(re.sub(r"<[^>]+>", "", html.split('id="form-errors"', 1)[1].split("</div>", 1)[0]))


# --- every type renders ---------------------------------------------------------------------


def test_every_question_type_is_on_the_page_with_its_label_help_and_input(client, form_event):
    event = form_event(EVERY_TYPE)
    page = client.get(f"/events/{event.slug}/register")
    assert page.status_code == 200
    html = page.text
    parser = parse(html)
    fields = {f.get("name"): f for f in parser.fields if f.get("type") != "hidden"}

    assert '<h2 class="form-heading">About your work</h2>' in html
    assert '<p class="form-info">We ask this to plan the sessions.</p>' in html
    assert 'enctype="multipart/form-data"' in html
    assert fields["mobile"]["type"] == "tel"
    assert (fields["years"]["type"], fields["years"]["min"], fields["years"]["max"], fields["years"]["step"]) == ("number", "0", "60", "1")
    assert fields["height"]["step"] == "any"
    assert (fields["arrival"]["type"], fields["arrival"]["min"], fields["arrival"]["max"]) == ("date", "2027-03-01", "2027-03-31")
    assert fields["nationality"]["tag"] == "select" and '<option value="Singapore">Singapore</option>' in html
    assert "Vietnam" in html and "Viet Nam" not in html  # the name people use
    assert fields["dietary"]["tag"] == "select"
    assert [f["type"] for f in parser.fields if f.get("name") == "topics"] == ["checkbox"] * 3
    assert [f["value"] for f in parser.fields if f.get("name") == "visa"] == ["yes", "no"]
    assert fields["days"]["type"] == "checkbox" and "required" in fields["days"]
    assert fields["cv"]["type"] == "file" and fields["cv"]["accept"] == "application/pdf,.pdf"
    # A file is sensitive unless the form says not: the participant is told how it is kept.
    assert f'<small id="cv-help">PDF, at most 1 kB. {SEALED_NOTE}</small>' in html and fields["cv"]["aria-describedby"] == "cv-help"
    # Help text is tied to its input.
    assert fields["rank"]["aria-describedby"] == "rank-help" and '<small id="rank-help">As on your ID.</small>' in html
    # The browser stops where the server would refuse: lengths, and ranges above.
    assert (fields["rank"]["maxlength"], fields["rank"]["minlength"]) == ("20", "2")
    assert fields["bio"]["tag"] == "textarea" and fields["bio"]["maxlength"] == "50" and "minlength" not in fields["bio"]
    assert fields["assistant"]["maxlength"] == "254"
    # A multiple choice says how many to pick, tied to its group.
    assert '<fieldset aria-describedby="topics-help">' in html and '<small id="topics-help">Pick 1 or 2.</small>' in html
    assert "A question no longer asked" not in html and "old" not in fields
    for f in parser.fields:
        if f.get("type") not in ("hidden",) and f.get("name") != "website" and f["tag"] != "option":
            assert f["id"] in parser.labels, f"no label for {f.get('name')}"


def test_every_type_keeps_its_answer_as_its_type_stores_it(send, form_event, rows, settings):
    event = form_event(EVERY_TYPE)
    response = send(event, files={"cv": ("my cv.pdf", PDF, "application/pdf")}, **FILLED)
    assert response.status_code == 303, errors_of(response.text)
    [row] = rows()
    assert row.answers == {
        "rank": "Colonel", "bio": "Thirty years at sea.", "assistant": "aide@example.org", "mobile": "+6567906982",
        "years": 30, "height": 1.75, "arrival": "2027-03-08", "nationality": "Singapore", "dietary": "halal",
        "topics": ["sea", "space"], "visa": "no", "days": True,
    }
    # The file question is sensitive by default: its answer (the file's name) is sealed.
    assert "my cv.pdf" not in (row.sealed_answers or "") and settings.keyring.open_json(row.sealed_answers) == {"cv": "my cv.pdf"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rank", "", "Enter your answer."),
        ("rank", "C", "Write between 2 and 20 characters."),
        ("rank", "C" * 21, "Write between 2 and 20 characters."),
        ("rank", "Col\nonel", "Remove the control characters or line breaks"),
        ("bio", "b" * 51, "Keep this to 50 characters or fewer."),
        ("assistant", "aide.example.org", "Enter a complete email address"),
        ("mobile", "12345", "Enter a phone number we can call"),
        ("mobile", "+1 555", "Enter a phone number we can call"),
        ("years", "2.5", "Enter a whole number from 0 to 60, in figures"),
        ("years", "61", "Enter a whole number from 0 to 60."),
        ("years", "thirty", "Enter a whole number from 0 to 60, in figures"),
        ("years", "NaN", "Enter a whole number"),
        ("height", "3", "Enter a number from 0.5 to 2.5."),
        ("height", "1,75", "Enter a number from 0.5 to 2.5, in figures (like 12 or 12.5)."),
        ("arrival", "2027-02-28", "Enter a date on or after 1 March 2027."),
        ("arrival", "2027-04-01", "Enter a date on or before 31 March 2027."),
        ("arrival", "2027-02-30", "Enter a date as year-month-day"),
        ("arrival", "8 March", "Enter a date as year-month-day"),
        ("nationality", "Atlantis", "Choose a country from the list."),
        ("dietary", "vegan", "Choose one of the answers given."),
        ("topics", [], "Choose at least one."),
        ("topics", ["sea", "cyber", "space"], "Pick 1 or 2."),
        ("topics", ["sea", "moon"], "Choose among the answers given."),
        ("visa", "maybe", "Choose one of the answers given."),
        ("days", None, "Tick this box to go on."),
    ],
)
def test_each_type_refuses_what_it_cannot_take_and_keeps_the_rest(field, value, message, send, form_event, rows):
    event = form_event([q for q in EVERY_TYPE if q["type"] != "file"])
    response = send(event, **{**FILLED, "rank": "Colonel", field: value})
    assert response.status_code == 422
    errors = errors_of(response.text)
    assert message in errors, errors
    assert "Please correct 1 field below." in errors  # only the field at fault
    if field != "rank":
        assert value_of(response.text, "rank") == "Colonel"
    assert rows() == []


def test_a_phone_number_is_read_in_the_sites_region_and_kept_in_e164(send, form_event, rows):
    event = form_event([{"key": "mobile", "type": "phone", "label": "Mobile", "required": True}])
    assert send(event, mobile="+44 20 7946 0958", email="uk@example.org").status_code == 303
    assert send(event, mobile="9123 4567", email="sg@example.org").status_code == 303
    assert [r.answers["mobile"] for r in rows()] == ["+442079460958", "+6591234567"]


def test_organisation_is_required_when_the_form_says_so(send, form_event, rows):
    event = form_event([], organisation_required=True)
    response = send(event)
    assert response.status_code == 422 and "Enter the organisation that is sending you." in response.text
    assert send(event, organisation="MHA").status_code == 303
    assert rows()[0].organisation == "MHA"


# --- how many to pick, and lengths as the browser counts them ----------------------------------


def _topics(**settings: Any) -> dict[str, Any]:
    return {"key": "topics", "type": "multichoice", "label": "Topics", **settings,
            "choices": [{"value": v, "label": v.title()} for v in ("sea", "cyber", "space", "land")]}


@pytest.mark.parametrize(
    ("limits", "rule"),
    [
        ({"required": True, "min_choices": 2, "max_choices": 3}, "Pick 2 or 3."),
        ({"required": True, "min_choices": 2, "max_choices": 4}, "Pick 2 to 4."),
        ({"required": True, "min_choices": 2}, "Pick at least 2."),
        ({"required": True, "min_choices": 2, "max_choices": 2}, "Pick exactly 2."),
        ({"required": True, "max_choices": 3}, "Pick 1 to 3."),
        ({"max_choices": 3}, "Pick up to 3."),
        ({"min_choices": 1, "max_choices": 3}, "Pick up to 3."),
        ({"min_choices": 2}, "Optional; if you pick any, pick at least 2."),
        ({"min_choices": 2, "max_choices": 3}, "Optional; if you pick any, pick 2 or 3."),
        ({"required": True}, ""),
        ({"min_choices": 1}, ""),
    ],
)
def test_a_multiple_choice_says_how_many_to_pick_after_its_help(limits, rule, client, form_event):
    event = form_event([_topics(help="Your main interests.", **limits)])
    html = unescape(client.get(f"/events/{event.slug}/register").text)
    assert '<fieldset aria-describedby="topics-help">' in html
    assert f'<small id="topics-help">{" ".join(filter(None, ["Your main interests.", rule]))}</small>' in html


def test_a_multiple_choice_without_help_is_described_by_its_rule_alone(client, form_event):
    event = form_event([_topics(max_choices=2), _topics(key="other")])
    html = client.get(f"/events/{event.slug}/register").text
    assert '<fieldset aria-describedby="topics-help">' in html and '<small id="topics-help">Pick up to 2.</small>' in html
    assert "<fieldset>" in html and 'id="other-help"' not in html  # nothing to say, nothing said


def test_an_optional_multiple_choice_with_a_minimum_takes_none_or_the_minimum(send, form_event, rows):
    event = form_event([_topics(min_choices=2, max_choices=3)])
    one = send(event, topics=["sea"], email="one@example.org")
    assert one.status_code == 422 and "Topics: Pick 2 or 3, or none." in errors_of(one.text)
    four = send(event, topics=["sea", "cyber", "space", "land"], email="four@example.org")
    assert four.status_code == 422 and "Topics: Pick 2 or 3, or none." in errors_of(four.text)
    assert send(event, email="none@example.org").status_code == 303
    assert send(event, topics=["land", "sea"], email="two@example.org").status_code == 303
    assert [(r.email, r.answers) for r in rows()] == [("none@example.org", {}), ("two@example.org", {"topics": ["sea", "land"]})]


def test_a_required_multiple_choice_refuses_too_few_and_too_many_in_the_rules_words(send, form_event, rows):
    event = form_event([_topics(required=True, min_choices=2, max_choices=2)])
    for picked in ([], ["sea"], ["sea", "cyber", "land"]):
        response = send(event, topics=picked)
        assert response.status_code == 422
        assert ("Topics: Choose at least one." if not picked else "Topics: Pick exactly 2.") in errors_of(response.text)
    assert send(event, topics=["sea", "cyber"]).status_code == 303
    assert rows()[0].answers == {"topics": ["sea", "cyber"]}


def test_a_line_break_counts_as_one_character_as_the_browser_counts_it(send, form_event, rows):
    event = form_event([{"key": "bio", "type": "textarea", "label": "Biography", "max_length": 20}])
    # Sent as 22 characters (the browser sends CR LF), typed as 19 under its maxlength of 20.
    assert send(event, bio="\r\n".join(["abcd"] * 4)).status_code == 303
    assert rows()[0].answers == {"bio": "abcd\nabcd\nabcd\nabcd"}
    too_long = send(event, bio="\r\n".join(["abcde"] * 4), email="bo@example.org")
    assert too_long.status_code == 422 and "Biography: Keep this to 20 characters or fewer." in errors_of(too_long.text)


# --- conditions without JavaScript -----------------------------------------------------------

VISA = [
    {"key": "visa", "type": "yesno", "label": "Do you need a visa support letter?", "required": True},
    {"key": "passport", "type": "text", "label": "Passport number", "required": True, "show_if": {"visa": ["yes"]}},
    {"key": "embassy", "type": "choice", "label": "Embassy", "required": True, "show_if": {"visa": ["yes"]},
     "choices": [{"value": "jakarta", "label": "Jakarta"}, {"value": "manila", "label": "Manila"}]},
    {"key": "embassy_note", "type": "text", "label": "Which consulate in Manila?", "required": True, "show_if": {"embassy": ["manila"]}},
]


def test_without_javascript_every_question_shows_and_says_when_it_applies(client, form_event):
    event = form_event(VISA)
    html = client.get(f"/events/{event.slug}/register").text
    fields = {f.get("name"): f for f in parse(html).fields}
    assert {"visa", "passport", "embassy", "embassy_note"} <= set(fields)
    assert "Only if you answered Yes to “Do you need a visa support letter?”." in unescape(html)
    assert "Only if you answered Manila to “Embassy”." in unescape(html)
    assert fields["passport"]["aria-describedby"] == "passport-when"
    # The conditional question carries its rule for the script, and is not marked required.
    assert 'data-show-if="visa" data-show-values=\'["yes"]\'' in html
    assert "required" not in fields["passport"]
    assert '/static/js/conditions.js" defer></script>' in html


def test_a_hidden_question_is_not_required_and_its_answer_is_not_kept(send, form_event, rows):
    event = form_event(VISA)
    # Typed into, then the answer that asked for it changed: the server drops it.
    response = send(event, visa="no", passport="A1234567", embassy="manila", embassy_note="")
    assert response.status_code == 303, errors_of(response.text)
    assert rows()[0].answers == {"visa": "no"}


def test_a_question_that_applies_is_required_and_conditions_chain_in_form_order(send, form_event, rows):
    event = form_event(VISA)
    missing = send(event, visa="yes")
    errors = errors_of(missing.text)
    assert missing.status_code == 422
    assert "Passport number: Enter your answer." in errors and "Embassy: Choose an answer." in errors
    assert "Which consulate" not in errors  # applies only once Manila is chosen
    chained = send(event, visa="yes", passport="A1234567", embassy="manila")
    assert chained.status_code == 422 and "Which consulate in Manila?: Enter your answer." in errors_of(chained.text)
    ok = send(event, visa="yes", passport="A1234567", embassy="jakarta", embassy_note="ignored")
    assert ok.status_code == 303
    assert rows()[0].answers == {"visa": "yes", "passport": "A1234567", "embassy": "jakarta"}


def test_a_condition_on_a_multiple_choice_applies_when_any_value_is_picked(send, form_event, rows):
    event = form_event([
        {"key": "topics", "type": "multichoice", "label": "Topics",
         "choices": [{"value": "sea", "label": "Maritime"}, {"value": "cyber", "label": "Cyber"}]},
        {"key": "vessel", "type": "text", "label": "Vessel", "required": True, "show_if": {"topics": ["sea"]}},
    ])
    assert send(event, topics=["cyber"], email="a@example.org").status_code == 303
    assert send(event, topics=["cyber", "sea"], email="b@example.org").status_code == 422
    assert send(event, topics=["cyber", "sea"], vessel="RSS Endurance", email="c@example.org").status_code == 303
    assert [r.answers for r in rows()] == [{"topics": ["cyber"]}, {"topics": ["sea", "cyber"], "vessel": "RSS Endurance"}]


# --- places per choice -------------------------------------------------------------------------

WORKSHOP = [
    {"key": "workshop", "type": "choice", "widget": "radio", "label": "Workshop", "required": True,
     "choices": [{"value": "a", "label": "Workshop A", "places": 2}, {"value": "b", "label": "Workshop B", "places": 1},
                 {"value": "c", "label": "Workshop C"}]},
    {"key": "meal", "type": "choice", "widget": "select", "label": "Dinner",
     "choices": [{"value": "fish", "label": "Fish", "places": 1}, {"value": "rice", "label": "Rice"}]},
]


def test_a_choice_shows_the_places_left_and_a_full_one_cannot_be_picked(client, send, form_event, rows):
    event = form_event(WORKSHOP)
    page = client.get(f"/events/{event.slug}/register").text
    assert "Workshop A <span class=\"places\">(2 places left)</span>" in page
    assert "Workshop B <span class=\"places\">(1 place left)</span>" in page
    assert send(event, workshop="b", meal="fish", email="first@example.org").status_code == 303

    page = client.get(f"/events/{event.slug}/register").text
    radios = {f["value"]: f for f in parse(page).fields if f.get("name") == "workshop"}
    assert "disabled" in radios["b"] and "disabled" not in radios["a"] and "disabled" not in radios["c"]
    assert "Workshop B <span class=\"places places-full\">(full)</span>" in page
    assert '<option value="fish" disabled>Fish (full)</option>' in page
    # Sent anyway (an old page, or a hand-made request): refused on the question, the rest kept.
    refused = send(event, workshop="b", meal="rice", email="second@example.org", name="Bo Tan")
    assert refused.status_code == 422
    assert "Workshop: Workshop B is full; choose another." in errors_of(refused.text)
    assert value_of(refused.text, "name") == "Bo Tan"
    assert [r.email for r in rows()] == ["first@example.org"]


def test_a_choice_taken_while_the_form_was_read_comes_back_409_on_its_question(client, form_event, rows, run, site, monkeypatch):
    from portal.registrations.participants import Submission, register
    from portal.web import public

    event = form_event(WORKSHOP)
    page = client.get(f"/events/{event.slug}/register")
    real = public.listing.get_event_page

    def read_then_lose_the_place(session, slug, **kwargs):  # type: ignore[no-untyped-def]
        data = real(session, slug, **kwargs)
        run(register, site, slug, Submission(name="Quicker", email="quicker@example.org", answers={"workshop": "b"}))
        return data

    monkeypatch.setattr(public.listing, "get_event_page", read_then_lose_the_place)
    response = client.post(
        f"/events/{event.slug}/register",
        data={**VALID, "name": "Slower", "workshop": "b", "meal": "rice", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 409
    assert "Workshop B is full; choose another." in errors_of(response.text)
    assert value_of(response.text, "name") == "Slower"
    assert '<option value="rice" selected>Rice</option>' in response.text
    radios = {f["value"]: f for f in parse(response.text).fields if f.get("name") == "workshop"}
    assert "disabled" in radios["b"] and "checked" not in radios["b"]
    assert [r.email for r in rows()] == ["quicker@example.org"]


# --- files ---------------------------------------------------------------------------------------

CV = [
    {"key": "cv", "type": "file", "label": "CV", "required": True, "accept": ["application/pdf"], "max_bytes": 2000},
    {"key": "photo", "type": "file", "label": "Photo", "accept": ["image/png", "image/jpeg"]},
    {"key": "rank", "type": "text", "label": "Rank", "required": True},
]


def test_a_file_is_checked_from_its_content_kept_under_a_random_name_and_recorded(send, form_event, rows, sessions, upload_dir, settings):
    event = form_event(CV)
    response = send(event, rank="Major", files={"cv": ("../../etc/Curriculum vitae.pdf", PDF, "text/plain")})
    assert response.status_code == 303, errors_of(response.text)
    [row] = rows()
    # A file question is sensitive by default: the file's name is a sealed answer.
    assert row.answers == {"rank": "Major"}
    assert settings.keyring.open_json(row.sealed_answers) == {"cv": "Curriculum vitae.pdf"}
    with sessions() as session:
        [upload] = session.scalars(select(Upload))
    assert (upload.registration_id, upload.question_key, upload.content_type, upload.size) == (row.id, "cv", "application/pdf", len(PDF))
    assert (upload.filename, upload.sealed) == ("upload.pdf", True)
    [stored] = kept_files(upload_dir)
    assert stored.name == upload.stored_name and "vitae" not in stored.name and len(stored.name) == 32
    assert stored.read_bytes() != PDF and settings.keyring.open(stored.read_bytes()) == PDF
    assert stored.stat().st_mode & 0o077 == 0  # the portal's user only


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"cv": ("cv.pdf", PNG, "application/pdf")}, "This file is not a PDF"),
        ({"cv": ("cv.pdf", PDF + b"x" * 2000, "application/pdf")}, "This file is larger than 2 kB: choose a smaller one."),
        ({"cv": ("cv.pdf", b"", "application/pdf")}, "CV: This file is empty: choose another."),
        ({"cv": ("", b"", "application/octet-stream")}, "CV: Choose a file to send."),
        ({"cv": ("cv.pdf", PDF, "application/pdf"), "photo": ("me.png", PDF, "image/png")}, "This file is not a PNG image or JPEG image"),
        (None, "CV: Choose a file to send."),
    ],
)
def test_a_wrong_file_is_refused_and_nothing_is_written(files, message, send, form_event, rows, upload_dir):
    event = form_event(CV)
    response = send(event, rank="Major", files=files)
    assert response.status_code == 422
    assert message in errors_of(response.text)
    assert rows() == [] and kept_files(upload_dir) == []


def test_a_form_that_comes_back_says_which_files_to_choose_again_and_keeps_the_rest(send, form_event, upload_dir):
    event = form_event(CV)
    response = send(event, rank="", name="Dewi Lestari", files={"cv": ("cv.pdf", PDF, "application/pdf"), "photo": ("me.png", PNG, "image/png")})
    assert response.status_code == 422
    assert "Rank: Enter your answer." in errors_of(response.text)
    assert "choose the file for “CV”, “Photo” once more" in errors_of(response.text)
    assert value_of(response.text, "name") == "Dewi Lestari"
    assert kept_files(upload_dir) == []


def test_files_of_a_refused_or_repeated_registration_are_deleted(client, send, form_event, make_registration, rows, upload_dir):
    full = form_event(CV, capacity=1, waitlist=False)
    page = client.get(f"/events/{full.slug}/register")
    make_registration(full)  # the last seat goes while the visitor chooses a file
    response = client.post(
        f"/events/{full.slug}/register", data={**VALID, "rank": "Major", "csrf_token": csrf_from(page.text)},
        files={"cv": ("cv.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 409 and "This event is full" in response.text
    assert "choose the file for “CV” once more" in unescape(response.text)
    assert kept_files(upload_dir) == []

    event = form_event(CV)
    assert send(event, rank="Major", files={"cv": ("cv.pdf", PDF, "application/pdf")}).status_code == 303
    assert len(kept_files(upload_dir)) == 1
    # The same address again: answered as a success, and nothing of it kept.
    again = send(event, rank="General", files={"cv": ("other.pdf", PDF, "application/pdf")})
    assert again.status_code == 303
    assert len(kept_files(upload_dir)) == 1


def test_the_registrant_downloads_their_file_through_the_manage_link_only(client, send, form_event, manage_link, make_registration):
    event = form_event(CV)
    assert send(event, rank="Major", files={"cv": ("Résumé & 'final'.pdf", PDF, "application/pdf")}).status_code == 303
    token = manage_link("ann@example.org")
    manage = client.get(f"/registrations/{token}")
    assert f'/registrations/{token}/files/cv" download>Résumé &amp; &#39;final&#39;.pdf</a>' in manage.text

    download = client.get(f"/registrations/{token}/files/cv")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-disposition"].endswith("filename*=utf-8''R%C3%A9sum%C3%A9%20%26%20%27final%27.pdf")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["cache-control"] == "no-store"

    other = make_registration(event)
    assert client.get(f"/registrations/{other.token}/files/cv").status_code == 404
    assert client.get(f"/registrations/{token}/files/photo").status_code == 404
    assert client.get(f"/registrations/{token[:-2]}xx/files/cv").status_code == 404


# --- the manage page -------------------------------------------------------------------------------

MANAGED = [
    {"key": "rank", "type": "text", "label": "Rank", "required": True, "editable": False},
    {"key": "visa", "type": "yesno", "label": "Do you need a visa support letter?"},
    {"key": "passport", "type": "text", "label": "Passport number", "required": True, "show_if": {"visa": ["yes"]}},
    {"key": "dietary", "type": "choice", "label": "Dietary requirement",
     "choices": [{"value": "none", "label": "None"}, {"value": "halal", "label": "Halal"}]},
]


def test_the_manage_page_changes_what_may_change_and_keeps_the_rest(client, form_event, make_registration, sessions):
    event = form_event(MANAGED)
    person = make_registration(event, answers={"rank": "Colonel", "visa": "yes", "passport": "A1", "dietary": "none", "legacy": "kept"})
    page = client.get(f"/registrations/{person.token}")
    fields = {f.get("name") for f in parse(page.text).fields}
    assert "rank" not in fields and {"visa", "passport", "dietary"} <= fields
    assert "Colonel" in page.text and "This answer cannot be changed here." in page.text
    assert "Contact the organisers" not in page.text  # the back office cannot change answers either
    assert value_of(page.text, "passport") == "A1"

    saved = client.post(f"/registrations/{person.token}", data={
        "csrf_token": csrf_from(page.text), "name": "Ann", "rank": "General", "visa": "no", "passport": "A1", "dietary": "halal",
    })
    assert saved.status_code == 303
    with sessions() as session:
        answers = session.get_one(Registration, person.id).answers
    # The rank was not the participant's to change; the passport no longer applies.
    assert answers == {"rank": "Colonel", "visa": "no", "dietary": "halal", "legacy": "kept"}


def test_the_manage_page_requires_a_question_that_now_applies(client, form_event, make_registration, sessions):
    event = form_event(MANAGED)
    person = make_registration(event, answers={"rank": "Colonel", "visa": "no"})
    page = client.get(f"/registrations/{person.token}")
    response = client.post(f"/registrations/{person.token}", data={"csrf_token": csrf_from(page.text), "name": "Ann", "visa": "yes"})
    assert response.status_code == 422
    assert "Enter your answer." in response.text
    with sessions() as session:
        assert session.get_one(Registration, person.id).answers == {"rank": "Colonel", "visa": "no"}


def test_the_manage_page_lists_each_fields_problem_linked_to_the_field(client, form_event, make_registration, sessions):
    event = form_event(MANAGED)
    person = make_registration(event, answers={"rank": "Colonel", "visa": "no", "dietary": "none"})
    page = client.get(f"/registrations/{person.token}")
    response = client.post(f"/registrations/{person.token}", data={
        "csrf_token": csrf_from(page.text), "name": "", "visa": "yes", "dietary": "vegan",
    })
    assert response.status_code == 422
    summary = response.text.split('id="form-errors"', 1)[1].split("</div>", 1)[0]
    errors = errors_of(response.text)
    lines = ["Full name: Enter your full name.", "Passport number: Enter your answer.", "Dietary requirement: Choose one of the answers given."]
    assert "Please correct 3 fields below." in errors
    # In page order, each linked to its field (a group to its first option).
    assert [errors.index(line) for line in lines] == sorted(errors.index(line) for line in lines)
    assert all(f'<a href="#{anchor}">' in summary for anchor in ("name", "passport", "dietary-0"))
    fields = {f.get("id") for f in parse(response.text).fields}
    assert {"name", "passport", "dietary-0"} <= fields
    assert 'role="alert" tabindex="-1" id="form-errors" autofocus' in response.text
    with sessions() as session:
        assert session.get_one(Registration, person.id).answers == {"rank": "Colonel", "visa": "no", "dietary": "none"}


def test_an_answer_or_file_the_participant_may_not_change_says_so_plainly(client, send, form_event, manage_link):
    event = form_event([
        {"key": "rank", "type": "text", "label": "Rank", "editable": False},
        {"key": "cv", "type": "file", "label": "CV", "editable": False},
    ])
    assert send(event, rank="Major", files={"cv": ("cv.pdf", PDF, "application/pdf")}).status_code == 303
    html = client.get(f"/registrations/{manage_link('ann@example.org')}").text
    fixed = html.split('<p class="fixed-answer"')[1:]
    assert len(fixed) == 2 and all("This answer cannot be changed here." in p.split("</p>", 1)[0] for p in fixed)
    assert "cv.pdf</a>" in fixed[1]


def test_the_manage_page_shows_phone_numbers_for_reading_and_keeps_them_in_e164(client, send, form_event, manage_link, sessions):
    event = form_event([
        {"key": "mobile", "type": "phone", "label": "Mobile"},
        {"key": "office", "type": "phone", "label": "Office", "editable": False},
    ])
    assert send(event, mobile="67906982", office="+44 20 7946 0958").status_code == 303
    token = manage_link("ann@example.org")
    page = client.get(f"/registrations/{token}").text
    assert value_of(page, "mobile") == "+65 6790 6982"
    assert '<span class="answer">+44 20 7946 0958</span>' in page
    saved = client.post(f"/registrations/{token}", data={"csrf_token": csrf_from(page), "name": "Ann Lee", "mobile": "+65 6790 6982"})
    assert saved.status_code == 303
    with sessions() as session:
        [row] = session.scalars(select(Registration))
        assert row.answers == {"mobile": "+6567906982", "office": "+442079460958"}


def test_a_place_the_participant_holds_reads_as_kept_not_as_none_left(client, send, form_event, manage_link, sessions):
    event = form_event(WORKSHOP)
    assert send(event, workshop="b", meal="fish").status_code == 303  # the last place of each
    token = manage_link("ann@example.org")
    page = client.get(f"/registrations/{token}").text
    radios = {f["value"]: f for f in parse(page).fields if f.get("name") == "workshop"}
    assert "checked" in radios["b"] and "disabled" not in radios["b"]
    assert 'Workshop B <span class="places">(your place is kept)</span>' in page
    assert '<option value="fish" selected>Fish (your place is kept)</option>' in page
    assert "0 places left" not in page and "(full)" not in page
    assert 'Workshop A <span class="places">(2 places left)</span>' in page
    # Someone else sees them full.
    other = client.get(f"/events/{event.slug}/register").text
    assert 'Workshop B <span class="places places-full">(full)</span>' in other and "your place" not in other
    assert client.post(f"/registrations/{token}", data={
        "csrf_token": csrf_from(page), "name": "Ann Lee", "workshop": "b", "meal": "fish",
    }).status_code == 303


# --- escaping, and the form kept per process ---------------------------------------------------------

HOSTILE = "<script>alert(1)</script>"


def test_hostile_labels_help_choices_and_answers_are_escaped(client, send, form_event, manage_link):
    event = form_event([
        {"type": "heading", "label": HOSTILE},
        {"key": "q1", "type": "text", "label": HOSTILE, "help": '"><img src=x onerror=alert(1)>'},
        {"key": "q2", "type": "choice", "label": "Pick", "choices": [{"value": "v'><b>", "label": HOSTILE}]},
        {"key": "q3", "type": "text", "label": "Shown if", "show_if": {"q2": ["v'><b>"]}},
    ])
    html = client.get(f"/events/{event.slug}/register").text
    assert HOSTILE not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-show-values=\'["v\\u0027\\u003e\\u003cb\\u003e"]\'' in html
    assert send(event, q1=HOSTILE, q2="v'><b>", q3='"><svg onload=alert(1)>').status_code == 303
    manage = client.get(f"/registrations/{manage_link('ann@example.org')}").text
    # The page's own SVG (the ticket's QR code) is there; the answer's never is.
    assert HOSTILE not in manage and "<svg onload" not in manage
    assert value_of(manage, "q1") == HOSTILE and value_of(manage, "q3") == '"><svg onload=alert(1)>'


def test_the_form_class_is_built_once_per_form_version(client, form_event, make_form, monkeypatch):
    event = form_event([{"key": "rank", "type": "text", "label": "Rank"}])
    built = []
    real = form_questions._build
    monkeypatch.setattr(form_questions, "_build", lambda *a: built.append(a[0]) or real(*a))
    for _ in range(3):
        assert "Rank" in client.get(f"/events/{event.slug}/register").text
    assert built == ["register"]
    make_form([{"key": "rank", "type": "text", "label": "Military rank"}], event=event)
    for _ in range(2):
        assert "Military rank" in client.get(f"/events/{event.slug}/register").text
    assert built == ["register", "register"]


def test_a_cached_form_is_never_taken_for_another_with_the_same_id_and_version():
    first = parse_form([{"key": "rank", "type": "text", "label": "Rank"}])
    second = parse_form([{"key": "unit", "type": "text", "label": "Unit"}])
    assert registration_form(first, (999_999, 1)) is registration_form(first, (999_999, 1))
    assert registration_form(second, (999_999, 1)).asking[0].key == "unit"


# --- the upload settings and the request limit ---------------------------------------------------


def test_upload_settings_default_under_var_and_are_checked(tmp_path):
    from portal.settings import Settings, SettingsError

    defaults = Settings.from_env(environ={}, cwd=tmp_path)
    assert defaults.upload_directory == tmp_path / "var" / "uploads"
    assert (defaults.upload_request_max_bytes, defaults.phone_region) == (25_000_000, "SG")
    chosen = Settings.from_env(
        environ={"PORTAL_UPLOAD_DIR": "files", "PORTAL_UPLOAD_REQUEST_MAX_MB": "8", "PORTAL_PHONE_REGION": "my"}, cwd=tmp_path,
    )
    assert (chosen.upload_directory, chosen.upload_request_max_bytes, chosen.phone_region) == (tmp_path / "files", 8_000_000, "MY")
    for name, value in (("PORTAL_PHONE_REGION", "XX"), ("PORTAL_UPLOAD_REQUEST_MAX_MB", "0"), ("PORTAL_UPLOAD_REQUEST_MAX_MB", "lots")):
        with pytest.raises(SettingsError):
            Settings.from_env(environ={name: value}, cwd=tmp_path)


@pytest.fixture
def small_uploads(settings):  # type: ignore[no-untyped-def]
    import dataclasses

    return dataclasses.replace(settings, upload_request_max_bytes=1_500_000)


def test_a_form_with_files_takes_a_request_over_the_small_limit_up_to_the_upload_limit(
    small_uploads, make_event, make_form, rows, upload_dir
):
    from starlette.testclient import TestClient

    from portal.app import MAX_BODY_BYTES, create_app
    from tests.conftest import BASE_URL

    event = make_event()
    make_form([{"key": "cv", "type": "file", "label": "CV", "max_bytes": 2_000_000}], event=event)
    big = PDF + b"%" * 800_000
    assert len(big) > MAX_BODY_BYTES
    with TestClient(create_app(small_uploads), base_url=BASE_URL, follow_redirects=False) as client:
        page = client.get(f"/events/{event.slug}/register")
        data = {**VALID, "csrf_token": csrf_from(page.text)}
        taken = client.post(f"/events/{event.slug}/register", data=data, files={"cv": ("cv.pdf", big, "application/pdf")})
        assert taken.status_code == 303
        too_big = client.post(
            f"/events/{event.slug}/register", data={**data, "email": "bo@example.org"},
            files={"cv": ("cv.pdf", big + b"%" * 800_000, "application/pdf")},
        )
        assert too_big.status_code == 413 and "larger than the portal accepts" in too_big.text
        # Files are taken only where a form asks for them.
        other = make_event()
        stray = client.post(f"/events/{other.slug}/register", data=data, files={"cv": ("cv.pdf", PDF, "application/pdf")})
        assert 400 <= stray.status_code < 500
    assert [(r.answers, r.sealed_answers is not None) for r in rows()] == [({}, True)]
    assert len(kept_files(upload_dir)) == 1


# --- the demo's forms ----------------------------------------------------------------------------------


def test_the_demo_forms_say_nothing_twice(client, run, sessions, make_event):
    from portal import demo
    from portal.models import Programme

    run(demo.load)
    with sessions() as session:
        programmes = dict(session.execute(select(Programme.code, Programme.id)).all())

    def page(code: str) -> str:
        return unescape(client.get(f"/events/{make_event(programme_id=programmes[code]).slug}/register").text)

    # The file's rule and the number of picks come from the settings, once.
    assert f'<small id="cv-help">PDF, at most 5 MB. {SEALED_NOTE}</small>' in page("isf-asia")
    assert '<small id="modules-help">Pick 1 or 2.</small>' in page("tatc")
    for code in ("appsmo", "appsno"):
        html = page(code)
        # "About you" is the identity fields' legend; the form's own first heading says something else.
        assert html.count("About you") == 1 and '<h2 class="form-heading">Service details</h2>' in html


def test_the_nominating_officer_cannot_be_the_registrant(form_event, send, rows):
    """Naming oneself as the officer would send oneself the link to endorse one's own
    nomination: the form refuses it on that question and keeps the rest."""
    event = form_event([
        {"key": "nominator_email", "type": "email", "label": "Nominating officer's email", "nominator": True},
        {"key": "rank", "type": "text", "label": "Rank"},
    ])
    own = VALID["email"]
    refused = send(event, nominator_email=own.upper(), rank="Major")
    assert refused.status_code == 422
    assert "not your own" in refused.text and 'value="Major"' in refused.text
    assert rows() == []

    assert send(event, nominator_email="officer@mindef.example", rank="Major").status_code == 303

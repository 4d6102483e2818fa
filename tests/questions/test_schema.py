"""What a form definition may say: each question type's rules, every definition refused with
a message that names the question (and the field, for the builder), when a conditional
question applies, and the import shape written back exactly as read."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from portal.questions.schema import (
    DEFAULT_ACCEPT,
    MAX_MAX_BYTES,
    TYPES,
    Choice,
    FormDefinition,
    FormDefinitionError,
    condition_text,
    parse_form,
    shown,
)

# One question of every type, each with every property its type may have: read, written
# back and read again, it must come out the same.
EVERY_TYPE: list[dict[str, Any]] = [
    {"type": "heading", "label": "About you"},
    {"type": "info", "label": ("A paragraph of help. " * 40).strip()},
    {"key": "rank", "type": "text", "label": "Rank", "help": "As on your ID card", "required": True,
     "editable": False, "min_length": 2, "max_length": 100},
    {"key": "bio", "type": "textarea", "label": "Short biography", "min_length": 50, "max_length": 3000},
    {"key": "officer", "type": "email", "label": "Nominating officer's email", "nominator": True},
    {"key": "mobile", "type": "phone", "label": "Mobile phone"},
    {"key": "years", "type": "number", "label": "Years of service", "min": 0, "max": 45},
    {"key": "weight", "type": "number", "label": "Luggage (kg)", "decimal": True, "min": 0.5, "max": 32.5},
    {"key": "arrival", "type": "date", "label": "Arrival", "min": "2027-08-01", "max": "2027-08-31"},
    {"key": "nationality", "type": "country", "label": "Nationality", "widget": "select"},
    {"key": "dietary", "type": "choice", "label": "Dietary requirement", "widget": "radio", "required": True,
     "choices": [{"value": "none", "label": "None"}, {"value": "halal", "label": "Halal"}, {"value": "other", "label": "Other"}]},
    {"key": "dietary_other", "type": "text", "label": "Which?", "show_if": {"dietary": ["other"]}},
    {"key": "workshop", "type": "choice", "label": "Workshop",
     "choices": [{"value": "a", "label": "Workshop A", "places": 20}, {"value": "b", "label": "Workshop B", "places": 0}]},
    {"key": "themes", "type": "multichoice", "label": "Themes", "min_choices": 1, "max_choices": 2,
     "choices": [{"value": "sea", "label": "Maritime"}, {"value": "cyber", "label": "Cyber"}, {"value": "space", "label": "Space"}]},
    {"key": "visa", "type": "yesno", "label": "Do you need a visa support letter?"},
    {"key": "passport", "type": "text", "label": "Passport number", "required": True, "show_if": {"visa": ["yes"]}},
    {"key": "space_note", "type": "textarea", "label": "On space", "show_if": {"themes": ["space", "cyber"]}},
    {"key": "attend_all", "type": "checkbox", "label": "I can attend all five days", "required": True},
    {"key": "cv", "type": "file", "label": "CV", "accept": ["application/pdf", "image/png"], "max_bytes": 2_000_000},
    {"key": "old", "type": "text", "label": "A retired question", "retired": True},
]


def every_type() -> list[dict[str, Any]]:
    return copy.deepcopy(EVERY_TYPE)


def refused(items: list[dict[str, Any]]) -> FormDefinitionError:
    with pytest.raises(FormDefinitionError) as info:
        parse_form(items)
    return info.value


def test_every_type_is_read_with_what_it_says():
    form = parse_form(every_type(), organisation_required=True)
    assert {q.type for q in form.questions} == set(TYPES)
    q = form.by_key()
    assert form.organisation_required is True
    assert (q["rank"].required, q["rank"].editable, q["rank"].min_length, q["rank"].max_length) == (True, False, 2, 100)
    assert q["rank"].help == "As on your ID card"
    assert q["officer"].nominator and form.nominator() is q["officer"]
    assert (q["years"].min, q["years"].max, q["years"].decimal) == (0, 45, False)
    assert (q["weight"].min, q["weight"].max, q["weight"].decimal) == (0.5, 32.5, True)
    assert (q["arrival"].min, q["arrival"].max) == ("2027-08-01", "2027-08-31")
    assert q["nationality"].widget == "select" and q["dietary"].widget == "radio"
    assert q["workshop"].choices == (Choice("a", "Workshop A", 20), Choice("b", "Workshop B", 0))
    assert q["workshop"].has_places and not q["dietary"].has_places
    assert (q["themes"].min_choices, q["themes"].max_choices) == (1, 2)
    assert [c.value for c in q["visa"].options()] == ["yes", "no"]
    assert q["passport"].show_if == ("visa", ("yes",))
    assert q["cv"].accept == ("application/pdf", "image/png") and q["cv"].max_bytes == 2_000_000
    assert q["old"].retired and q["old"] not in form.live()
    # Rosters list the live questions in form order, then the retired ones; never a heading.
    assert [x.key for x in form.answer_questions()][-2:] == ["cv", "old"]
    assert all(x.asks for x in form.answer_questions())


def test_to_json_gives_back_the_import_shape_and_reads_the_same():
    form = parse_form(every_type())
    written = form.to_json()
    assert written == EVERY_TYPE  # nothing added, nothing lost, no default spelt out
    assert parse_form(written) == form


def test_defaults_are_left_unsaid_and_a_file_accepts_pdf_unless_told():
    form = parse_form([
        {"key": "note", "type": "text", "label": "  Note  ", "required": False, "editable": True, "help": ""},
        {"key": "cv", "type": "file", "label": "CV"},
    ])
    note, cv = form.questions
    assert note.label == "Note"
    assert cv.accept == DEFAULT_ACCEPT and cv.max_bytes is None
    assert form.to_json() == [
        {"key": "note", "type": "text", "label": "Note"},
        {"key": "cv", "type": "file", "label": "CV", "accept": list(DEFAULT_ACCEPT)},
    ]


def test_a_heading_may_have_a_key_and_a_label_of_help_text_may_be_long():
    form = parse_form([{"key": "part_two", "type": "heading", "label": "Part two"}, {"type": "info", "label": "x" * 2000}])
    assert form.questions[0].key == "part_two" and not form.questions[0].asks
    assert form.by_key() == {}


REFUSED: dict[str, tuple[list[dict[str, Any]], str, str | None, str]] = {
    # case: (form, words the message holds, the key it names, the field it names)
    "unknown type": ([{"key": "cv", "type": "pdf", "label": "CV"}], "form[0] (key 'cv'): type 'pdf' is not one of text, textarea", "cv", "type"),
    "no type": ([{"key": "cv", "label": "CV"}], "type None is not one of", "cv", "type"),
    "not an object": ([["a list"]], "form[0]: must be an object", None, None),
    "duplicate key": (
        [{"key": "rank", "type": "text", "label": "Rank"}, {"key": "rank", "type": "textarea", "label": "Rank again"}],
        "form[1] (key 'rank'): key 'rank' is used by an earlier question", "rank", "key",
    ),
    "condition on a later question": (
        [{"key": "passport", "type": "text", "label": "Passport", "show_if": {"visa": ["yes"]}},
         {"key": "visa", "type": "yesno", "label": "Visa?"}],
        "form[0] (key 'passport'): its condition names 'visa', which is not a question above it", "passport", "show_if",
    ),
    "condition on itself": (
        [{"key": "visa", "type": "yesno", "label": "Visa?", "show_if": {"visa": ["yes"]}}],
        "its condition names 'visa', which is not a question above it", "visa", "show_if",
    ),
    "condition on a retired question": (
        [{"key": "visa", "type": "yesno", "label": "Visa?", "retired": True},
         {"key": "passport", "type": "text", "label": "Passport", "show_if": {"visa": ["yes"]}}],
        "its condition names “Visa?” ('visa'), which is retired, so it would never be shown", "passport", "show_if",
    ),
    "condition on a text question": (
        [{"key": "rank", "type": "text", "label": "Rank"},
         {"key": "passport", "type": "text", "label": "Passport", "show_if": {"rank": ["general"]}}],
        "its condition names “Rank” ('rank'), a text question: only a choice, multiple-choice or yes/no question can decide", "passport", "show_if",
    ),
    "unknown value in show_if": (
        [{"key": "visa", "type": "yesno", "label": "Visa?"},
         {"key": "passport", "type": "text", "label": "Passport", "show_if": {"visa": ["maybe"]}}],
        "its condition: 'maybe' is not one of the answers of 'visa' (no, yes)", "passport", "show_if",
    ),
    "show_if on two questions": (
        [{"key": "visa", "type": "yesno", "label": "Visa?"}, {"key": "hotel", "type": "yesno", "label": "Hotel?"},
         {"key": "passport", "type": "text", "label": "Passport", "show_if": {"visa": ["yes"], "hotel": ["yes"]}}],
        "show_if must name one earlier question", "passport", "show_if",
    ),
    "show_if with no value": (
        [{"key": "visa", "type": "yesno", "label": "Visa?"},
         {"key": "passport", "type": "text", "label": "Passport", "show_if": {"visa": []}}],
        "show_if needs at least one value", "passport", "show_if",
    ),
    "negative places": (
        [{"key": "workshop", "type": "choice", "label": "Workshop", "choices": [{"value": "a", "label": "A", "places": -1}]}],
        "choice 1: places must be a whole number, 0 or more", "workshop", "choices",
    ),
    "places as text": (
        [{"key": "workshop", "type": "choice", "label": "Workshop", "choices": [{"value": "a", "label": "A", "places": "20"}]}],
        "places must be a whole number", "workshop", "choices",
    ),
    "min_length above max_length": (
        [{"key": "bio", "type": "textarea", "label": "Bio", "min_length": 500, "max_length": 100}],
        "form[0] (key 'bio'): min_length (500) is above max_length (100)", "bio", "min_length",
    ),
    "number min above max": (
        [{"key": "years", "type": "number", "label": "Years", "min": 10, "max": 5}], "min (10) is above max (5)", "years", "min",
    ),
    "date min above max": (
        [{"key": "arrival", "type": "date", "label": "Arrival", "min": "2027-09-01", "max": "2027-08-01"}],
        "min (2027-09-01) is above max (2027-08-01)", "arrival", "min",
    ),
    "min_choices above max_choices": (
        [{"key": "themes", "type": "multichoice", "label": "Themes", "min_choices": 2, "max_choices": 1,
          "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]}],
        "min_choices (2) is above max_choices (1)", "themes", "min_choices",
    ),
    "max_choices above the choices": (
        [{"key": "themes", "type": "multichoice", "label": "Themes", "max_choices": 3,
          "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]}],
        "max_choices must be at most 2", "themes", "max_choices",
    ),
    "a fractional bound on a whole number": (
        [{"key": "years", "type": "number", "label": "Years", "max": 4.5}],
        "max must be a whole number, as the answers are (or set decimal)", "years", "max",
    ),
    "a number bound that is not a number": (
        [{"key": "years", "type": "number", "label": "Years", "min": "ten"}], "min must be a number", "years", "min",
    ),
    "a true that is not a number": (
        [{"key": "years", "type": "number", "label": "Years", "min": True}], "min must be a number", "years", "min",
    ),
    "a date bound that is not a date": (
        [{"key": "arrival", "type": "date", "label": "Arrival", "min": "1 August"}], "min must be a date as YYYY-MM-DD", "arrival", "min",
    ),
    "unknown property": (
        [{"key": "rank", "type": "text", "label": "Rank", "requried": True}],
        "form[0] (key 'rank'): 'requried' is not a property of a text question (it may have:", "rank", "requried",
    ),
    "a property of another type": (
        [{"key": "mobile", "type": "phone", "label": "Mobile", "max_length": 20}],
        "'max_length' is not a property of a phone question", "mobile", "max_length",
    ),
    "nominator on a text question": (
        [{"key": "officer", "type": "text", "label": "Officer", "nominator": True}],
        "'nominator' is not a property of a text question", "officer", "nominator",
    ),
    "unknown choice property": (
        [{"key": "dietary", "type": "choice", "label": "Diet", "choices": [{"value": "a", "label": "A", "price": 3}]}],
        "choice 1: 'price' is not a property of a choice", "dietary", "choices",
    ),
    "bad key": ([{"key": "Rank!", "type": "text", "label": "Rank"}], "key must start with a lower-case letter", "Rank!", "key"),
    "key starting with a digit": ([{"key": "1st", "type": "text", "label": "First"}], "key must start with a lower-case letter", "1st", "key"),
    "key too long": ([{"key": "k" * 41, "type": "text", "label": "Long"}], "at most 40", "k" * 41, "key"),
    "reserved key": (
        [{"key": "email", "type": "email", "label": "Another email"}],
        "key 'email' is taken by the registration's own fields", "email", "key",
    ),
    "no key": ([{"type": "text", "label": "Rank"}], "form[0]: needs a key", None, "key"),
    "no label": ([{"key": "rank", "type": "text", "label": "  "}], "needs a label", "rank", "label"),
    "a label with control characters": (
        [{"key": "rank", "type": "text", "label": "Rank\u202e"}], "label holds control characters", "rank", "label",
    ),
    "required that is not a bool": (
        [{"key": "rank", "type": "text", "label": "Rank", "required": "yes"}], "required must be true or false", "rank", "required",
    ),
    "a required heading": ([{"type": "heading", "label": "Part", "required": True}], "cannot be required", None, "required"),
    "choice without choices": ([{"key": "diet", "type": "choice", "label": "Diet"}], "needs choices", "diet", "choices"),
    "the same choice value twice": (
        [{"key": "diet", "type": "choice", "label": "Diet", "choices": [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]}],
        "choice 2: the value 'a' is used twice", "diet", "choices",
    ),
    "a choice value with spaces at its ends": (
        [{"key": "diet", "type": "choice", "label": "Diet", "choices": [{"value": " a", "label": "A"}]}],
        "choice 1: its value must be text of 1 to 100 characters", "diet", "choices",
    ),
    "bad widget": (
        [{"key": "diet", "type": "choice", "label": "Diet", "widget": "slider", "choices": [{"value": "a"}]}],
        "widget must be 'radio' or 'select'", "diet", "widget",
    ),
    "file type not accepted": (
        [{"key": "cv", "type": "file", "label": "CV", "accept": ["application/x-msdownload"]}],
        "accept must list file types among application/pdf", "cv", "accept",
    ),
    "file accept list empty": ([{"key": "cv", "type": "file", "label": "CV", "accept": []}], "accept must list file types", "cv", "accept"),
    "file accept not a list": (
        [{"key": "cv", "type": "file", "label": "CV", "accept": "application/pdf"}], "accept must list file types", "cv", "accept",
    ),
    "file too big a limit": (
        [{"key": "cv", "type": "file", "label": "CV", "max_bytes": MAX_MAX_BYTES + 1}], f"max_bytes must be at most {MAX_MAX_BYTES}", "cv", "max_bytes",
    ),
    "file limit of nothing": ([{"key": "cv", "type": "file", "label": "CV", "max_bytes": 0}], "max_bytes must be at least 1", "cv", "max_bytes"),
    "a retired nominator": (
        [{"key": "officer", "type": "email", "label": "Officer", "nominator": True, "retired": True}],
        "a retired question cannot be the nominating officer's email", "officer", "nominator",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_definition_that_cannot_work_is_refused_naming_the_question(case):
    items, words, key, field = REFUSED[case]
    error = refused(items)
    assert words in error.message
    assert error.message.startswith("form[")
    assert (error.key, error.field) == (key, field)


def test_the_question_is_named_by_its_place_in_the_form():
    items = every_type()
    items.append({"key": "late", "type": "text", "label": "Late", "min_length": -1})
    error = refused(items)
    assert error.message.startswith(f"form[{len(EVERY_TYPE)}] (key 'late'): min_length must be at least 0")
    assert error.index == len(EVERY_TYPE)


@pytest.mark.parametrize("not_a_list", [None, {"key": "rank"}, "rank"])
def test_a_form_must_be_a_list(not_a_list):
    assert refused(not_a_list).message == "form: must be a list of questions"


def test_an_empty_form_is_a_form():
    assert parse_form([]) == FormDefinition()


def test_a_conditional_question_applies_only_with_one_of_its_values():
    form = parse_form(every_type()).by_key()
    passport, dietary_other, space_note = form["passport"], form["dietary_other"], form["space_note"]
    assert shown(form["rank"], {})  # no condition: always
    assert shown(passport, {"visa": "yes"})
    assert not shown(passport, {"visa": "no"})
    assert not shown(passport, {})
    assert shown(dietary_other, {"dietary": "other"}) and not shown(dietary_other, {"dietary": "halal"})
    # A multiple choice decides when any of its picks is one of the values.
    assert shown(space_note, {"themes": ["sea", "space"]})
    assert not shown(space_note, {"themes": ["sea"]})
    assert not shown(space_note, {"themes": []})


def test_a_conditional_question_says_when_it_applies_in_the_deciding_question_s_words():
    form = parse_form(every_type())
    q = form.by_key()
    assert condition_text(q["passport"], form) == "Only if you answered Yes to “Do you need a visa support letter?”."
    assert condition_text(q["space_note"], form) == "Only if you answered Space or Cyber to “Themes”."
    assert condition_text(q["rank"], form) == ""


def test_a_single_show_if_value_may_be_written_as_text():
    form = parse_form([
        {"key": "visa", "type": "yesno", "label": "Visa?"},
        {"key": "passport", "type": "text", "label": "Passport", "show_if": {"visa": "yes"}},
    ])
    assert form.questions[1].show_if == ("visa", ("yes",))
    assert form.to_json()[1]["show_if"] == {"visa": ["yes"]}

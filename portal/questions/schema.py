"""What a registration form is: an ordered list of questions, and the rules a definition
must keep to be usable (no duplicate key, a condition only on an earlier choice question,
no min above its max...).

A form is data (the `forms` table, the import format, the builder), never code. This module
reads a definition in the import's JSON shape, refuses what cannot work with a message that
names the question, and writes it back in the same shape. It knows nothing of WTForms or of
the database: the registration form (portal.forms.questions) and the seats module build on
the `Question` objects it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from portal.errors import PortalError

TYPES = (
    "text", "textarea", "email", "phone", "number", "date", "country",
    "choice", "multichoice", "yesno", "checkbox", "file", "heading", "info",
)
# Questions that ask nothing: no key needed, no answer kept.
DISPLAY_TYPES = ("heading", "info")
# Questions another may depend on (show_if).
CONDITION_TYPES = ("choice", "multichoice", "yesno")
YES_NO = (("yes", "Yes"), ("no", "No"))

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Keys the identity fields and the roster's own columns use: an answer under one of them
# would be confused with the column in exports.
RESERVED_KEYS = frozenset({
    "name", "email", "organisation", "consent", "status", "csrf_token", "website", "id", "token",
    "registered", "checked_in", "created_at", "updated_at",
})
DEFAULT_MAX_BYTES = 5_000_000
MAX_MAX_BYTES = 20_000_000
# What an upload may be when a question does not say.
DEFAULT_ACCEPT = ("application/pdf",)
UPLOAD_TYPES = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG image",
    "image/png": "PNG image",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word document (.docx)",
    "application/msword": "Word 97-2003 document (.doc)",
}
# The name a sealed file's Upload row keeps in place of the participant's, by its type: the
# real name is a sensitive answer, sealed with the others.
_GENERIC_UPLOAD_NAMES = {
    "application/pdf": "upload.pdf",
    "image/jpeg": "upload.jpg",
    "image/png": "upload.png",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "upload.docx",
    "application/msword": "upload.doc",
}


def generic_upload_name(content_type: str) -> str:
    """The name a sealed file's row keeps in place of the participant's ("upload.pdf")."""
    return _GENERIC_UPLOAD_NAMES.get(content_type, "upload")

_COMMON = {"type", "key", "label", "help", "required", "editable", "show_if", "retired", "sensitive"}
# Words in a label that suggest its answers are sensitive (the builder ticks the box for them).
_SENSITIVE_WORDS = re.compile(
    r"passport|birth|\bnric\b|\bfin\b|identity|medical|medicine|health|allerg|dietary|diet\b|disab|religio|"
    r"blood|emergency contact|next of kin|security clearance",
    re.IGNORECASE,
)
_APPLIES = {
    "text": {"min_length", "max_length"},
    "textarea": {"min_length", "max_length"},
    "email": {"nominator"},
    "phone": set(),
    "number": {"min", "max", "decimal"},
    "date": {"min", "max"},
    "country": {"widget"},
    "choice": {"choices", "widget"},
    "multichoice": {"choices", "min_choices", "max_choices"},
    "yesno": set(),
    "checkbox": set(),
    "file": {"accept", "max_bytes"},
    "heading": set(),
    "info": set(),
}
_CHOICE_KEYS = {"value", "label", "places"}
_VALUE_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class FormDefinitionError(PortalError):
    """A form definition that cannot work; the message names the question (form[2] (key 'cv'))
    and `key` is the question's key when it has one, for the builder to put it on a field."""

    status_code = 422
    title = "This form cannot be saved"

    def __init__(
        self, message: str, *, index: int | None = None, key: str | None = None, field: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.index = index
        self.key = key
        self.field = field
        # The message without "form[2] (key 'cv'): ", for a page that shows it on the question.
        self.detail = detail or message


# How an import names a question ("form[8] (key 'arrival'): "), which a page that shows the
# message on the question itself leaves out.
_PLACE = re.compile(r"^form\[\d+\](?: \(key '[^']*'\))?: ")


def without_place(error: FormDefinitionError) -> str:
    """A refusal's words without the import's name for the question."""
    return _PLACE.sub("", error.detail or error.message)


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    places: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"value": self.value, "label": self.label}
        if self.places is not None:
            data["places"] = self.places
        return data


@dataclass(frozen=True)
class Question:
    type: str
    label: str
    key: str = ""
    help: str = ""
    required: bool = False
    editable: bool = True
    retired: bool = False
    show_if: tuple[str, tuple[str, ...]] | None = None  # (key of an earlier question, its values)
    min_length: int | None = None
    max_length: int | None = None
    min: float | str | None = None  # a number, or an ISO date for a date question
    max: float | str | None = None
    decimal: bool = False
    widget: str | None = None  # "radio" or "select" (choice, country)
    choices: tuple[Choice, ...] = ()
    min_choices: int | None = None
    max_choices: int | None = None
    accept: tuple[str, ...] = ()
    max_bytes: int | None = None
    nominator: bool = False
    # Answers sealed with the data keys, masked in the roster, left out of exports unless
    # named (portal.sealing). Uploads are sensitive unless the form says otherwise.
    sensitive: bool = False

    @property
    def asks(self) -> bool:
        """Whether the question takes an answer (headings and help text do not)."""
        return self.type not in DISPLAY_TYPES

    @property
    def has_places(self) -> bool:
        return any(c.places is not None for c in self.choices)

    def options(self) -> tuple[Choice, ...]:
        """The answers a choice, multiple-choice or yes/no question can have."""
        if self.type == "yesno":
            return tuple(Choice(v, label) for v, label in YES_NO)
        return self.choices

    def choice_label(self, value: str) -> str:
        for choice in self.options():
            if choice.value == value:
                return choice.label
        return value

    def to_json(self) -> dict[str, Any]:
        """The question in the import format's shape, keys only where they say something."""
        data: dict[str, Any] = {}
        if self.key:
            data["key"] = self.key
        data["type"] = self.type
        data["label"] = self.label
        for name, default in (
            ("help", ""), ("required", False), ("editable", True), ("retired", False), ("min_length", None),
            ("max_length", None), ("min", None), ("max", None), ("decimal", False), ("widget", None),
            ("min_choices", None), ("max_choices", None), ("max_bytes", None), ("nominator", False),
        ):
            value = getattr(self, name)
            if value != default:
                data[name] = value
        if self.sensitive != sensitive_by_default(self.type):
            data["sensitive"] = self.sensitive
        if self.choices:
            data["choices"] = [c.to_json() for c in self.choices]
        if self.accept:
            data["accept"] = list(self.accept)
        if self.show_if:
            data["show_if"] = {self.show_if[0]: list(self.show_if[1])}
        return data


@dataclass(frozen=True)
class FormDefinition:
    questions: tuple[Question, ...] = ()
    organisation_required: bool = False

    def by_key(self) -> dict[str, Question]:
        return {q.key: q for q in self.questions if q.asks}

    def live(self) -> tuple[Question, ...]:
        """What a new registrant is asked: every question not retired, in order."""
        return tuple(q for q in self.questions if not q.retired)

    def answer_questions(self) -> list[Question]:
        """The questions whose answers rosters and exports show: live ones in form order,
        then retired ones (marked so by the caller)."""
        asking = [q for q in self.questions if q.asks]
        return [q for q in asking if not q.retired] + [q for q in asking if q.retired]

    def to_json(self) -> list[dict[str, Any]]:
        return [q.to_json() for q in self.questions]

    def nominator(self) -> Question | None:
        return next((q for q in self.live() if q.nominator), None)

    def sensitive_keys(self) -> frozenset[str]:
        """The keys whose answers are sealed, retired questions included."""
        return frozenset(q.key for q in self.questions if q.asks and q.sensitive)


def sensitive_by_default(kind: str) -> bool:
    """Whether a question of this type is sensitive when the form does not say: uploads are
    (CVs, passport scans)."""
    return kind == "file"


def looks_sensitive(label: str) -> bool:
    """Whether a label asks for something usually sensitive (passport, date of birth, medical
    or dietary needs): the builder suggests sealing it."""
    return bool(_SENSITIVE_WORDS.search(label))


def condition_text(question: Question, definition: FormDefinition) -> str:
    """When a conditional question applies, in words: 'Only if "Visa letter?" is Yes.'"""
    if question.show_if is None:
        return ""
    key, values = question.show_if
    controlling = definition.by_key().get(key)
    if controlling is None:
        return ""
    labels = [controlling.choice_label(v) for v in values]
    said = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
    return f"Only if you answered {said} to “{controlling.label}”."


def parse_form(items: Any, *, organisation_required: bool = False) -> FormDefinition:
    """A definition from the import format's JSON shape (a list of question objects), or
    FormDefinitionError naming the first question that cannot work."""
    if not isinstance(items, list):
        raise FormDefinitionError("form: must be a list of questions")
    questions: list[Question] = []
    seen: dict[str, Question] = {}
    for index, item in enumerate(items):
        question = _parse_question(index, item, seen)
        if question.key:
            seen[question.key] = question
        questions.append(question)
    return FormDefinition(tuple(questions), organisation_required)


def _parse_question(index: int, item: Any, earlier: dict[str, Question]) -> Question:
    def where(key: str | None = None) -> str:
        return f"form[{index}]" + (f" (key {key!r})" if key else "")

    if not isinstance(item, dict):
        raise FormDefinitionError(f"{where()}: must be an object with a type and a label", index=index)
    raw_key = item.get("key")
    label_key = raw_key if isinstance(raw_key, str) else None

    def fail(message: str, field_name: str | None = None) -> FormDefinitionError:
        return FormDefinitionError(f"{where(label_key)}: {message}", index=index, key=label_key, field=field_name, detail=message)

    kind = item.get("type")
    if kind not in TYPES:
        raise fail(f"type {kind!r} is not one of {', '.join(TYPES)}", "type")
    allowed = _COMMON | _APPLIES[kind]
    unknown = sorted(k for k in item if k not in allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise fail(f"{unknown[0]!r} is not a property of a {kind} question (it may have: {known})", unknown[0])

    label = _text(item.get("label"), "label", fail, limit=2000 if kind == "info" else 300)
    if not label:
        raise fail("needs a label" if kind != "info" else "needs its text, as the label", "label")
    values: dict[str, Any] = {"type": kind, "label": label}
    values["help"] = _text(item.get("help", ""), "help", fail, limit=1000)
    for flag in ("required", "editable", "retired", "decimal", "nominator", "sensitive"):
        if flag in item:
            if not isinstance(item[flag], bool):
                raise fail(f"{flag} must be true or false", flag)
            values[flag] = item[flag]

    if kind in DISPLAY_TYPES:
        if raw_key not in (None, ""):
            values["key"] = _key(raw_key, fail, earlier)
        if values.get("required"):
            raise fail("a heading or help text asks nothing, so it cannot be required", "required")
    else:
        if raw_key in (None, ""):
            raise fail("needs a key: the name its answers are kept under (and the export's column)", "key")
        values["key"] = _key(raw_key, fail, earlier)

    if kind in ("text", "textarea"):
        values["min_length"] = _whole(item, "min_length", fail, low=0)
        values["max_length"] = _whole(item, "max_length", fail, low=1)
        _ordered(values["min_length"], values["max_length"], "min_length", "max_length", fail)
    if kind == "number":
        for name in ("min", "max"):
            if name in item and (isinstance(item[name], bool) or not isinstance(item[name], (int, float))):
                raise fail(f"{name} must be a number", name)
            values[name] = item.get(name)
        _ordered(values["min"], values["max"], "min", "max", fail)
        if not values.get("decimal"):
            for name in ("min", "max"):
                if isinstance(values[name], float) and not values[name].is_integer():
                    raise fail(f"{name} must be a whole number, as the answers are (or set decimal)", name)
    if kind == "date":
        for name in ("min", "max"):
            if name in item:
                try:
                    date.fromisoformat(item[name])
                except (TypeError, ValueError):
                    raise fail(f"{name} must be a date as YYYY-MM-DD", name) from None
                values[name] = item[name]
        _ordered(values.get("min"), values.get("max"), "min", "max", fail)
    if "widget" in item:
        if item["widget"] not in ("radio", "select"):
            raise fail("widget must be 'radio' or 'select'", "widget")
        values["widget"] = item["widget"]
    if kind in ("choice", "multichoice"):
        values["choices"] = _choices(item.get("choices"), fail)
    if kind == "multichoice":
        count = len(values["choices"])
        values["min_choices"] = _whole(item, "min_choices", fail, low=0, high=count)
        values["max_choices"] = _whole(item, "max_choices", fail, low=1, high=count)
        _ordered(values["min_choices"], values["max_choices"], "min_choices", "max_choices", fail)
    if kind == "file":
        accept = item.get("accept", list(DEFAULT_ACCEPT))
        if not isinstance(accept, list) or not accept or any(a not in UPLOAD_TYPES for a in accept):
            raise fail(f"accept must list file types among {', '.join(UPLOAD_TYPES)}", "accept")
        values["accept"] = tuple(dict.fromkeys(accept))
        values["max_bytes"] = _whole(item, "max_bytes", fail, low=1, high=MAX_MAX_BYTES)
    if "show_if" in item:
        values["show_if"] = _condition(item["show_if"], earlier, fail, asked=not values.get("retired"))
    if values.get("nominator") and values.get("retired"):
        raise fail("a retired question cannot be the nominating officer's email", "nominator")
    values.setdefault("sensitive", sensitive_by_default(kind))
    if values["sensitive"]:
        if kind in DISPLAY_TYPES:
            raise fail("a heading or help text asks nothing, so it cannot be sensitive", "sensitive")
        if values.get("nominator"):
            raise fail("the nominating officer's email is written to, so it cannot be sealed as sensitive", "nominator")
        if any(c.places is not None for c in values.get("choices", ())):
            raise fail("a choice with places cannot be sensitive: its picks are counted in the open", "sensitive")
    return Question(**values)


def _text(value: Any, name: str, fail: Any, *, limit: int) -> str:
    if not isinstance(value, str):
        raise fail(f"{name} must be text", name)
    value = value.strip()
    if _CONTROL.search(value):
        raise fail(f"{name} holds control characters", name)
    if len(value) > limit:
        raise fail(f"{name} is longer than {limit} characters", name)
    return value


def _key(value: Any, fail: Any, earlier: dict[str, Question]) -> str:
    if not isinstance(value, str) or not KEY_PATTERN.match(value):
        raise fail(
            "key must start with a lower-case letter and hold only lower-case letters, digits and _ (at most 40)", "key"
        )
    if value in RESERVED_KEYS:
        raise fail(f"key {value!r} is taken by the registration's own fields; choose another", "key")
    if value in earlier:
        raise fail(f"key {value!r} is used by an earlier question; each key must be unique", "key")
    return value


def _whole(item: dict[str, Any], name: str, fail: Any, *, low: int, high: int | None = None) -> int | None:
    if name not in item or item[name] is None:
        return None
    value = item[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"{name} must be a whole number", name)
    if value < low:
        raise fail(f"{name} must be at least {low}", name)
    if high is not None and value > high:
        raise fail(f"{name} must be at most {high}", name)
    return value


def _ordered(low: Any, high: Any, low_name: str, high_name: str, fail: Any) -> None:
    if low is not None and high is not None and low > high:
        raise fail(f"{low_name} ({low}) is above {high_name} ({high})", low_name)


def _choices(raw: Any, fail: Any) -> tuple[Choice, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("needs choices: a list of {\"value\", \"label\"} objects", "choices")
    choices: list[Choice] = []
    for n, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise fail(f"choice {n + 1} must be an object with a value and a label", "choices")
        unknown = sorted(k for k in entry if k not in _CHOICE_KEYS)
        if unknown:
            raise fail(f"choice {n + 1}: {unknown[0]!r} is not a property of a choice (value, label, places)", "choices")
        value = entry.get("value")
        if not isinstance(value, str) or not _VALUE_PATTERN.match(value) or value != value.strip():
            raise fail(f"choice {n + 1}: its value must be text of 1 to 100 characters, without line breaks or spaces at its ends", "choices")
        if any(c.value == value for c in choices):
            raise fail(f"choice {n + 1}: the value {value!r} is used twice", "choices")
        label = _text(entry.get("label", ""), f"the label of choice {n + 1}", fail, limit=300) or value
        places = entry.get("places")
        if places is not None and (isinstance(places, bool) or not isinstance(places, int) or places < 0):
            raise fail(f"choice {n + 1}: places must be a whole number, 0 or more", "choices")
        choices.append(Choice(value, label, places))
    return tuple(choices)


def _condition(raw: Any, earlier: dict[str, Question], fail: Any, *, asked: bool = True) -> tuple[str, tuple[str, ...]]:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise fail('show_if must name one earlier question and its values: {"visa": ["yes"]}', "show_if")
    (key, values), = raw.items()
    controlling = earlier.get(key)
    if controlling is None:
        raise fail(
            f"its condition names {key!r}, which is not a question above it in this form: "
            "move it below that question, or change the condition", "show_if",
        )
    if controlling.retired and asked:
        raise fail(
            f"its condition names “{controlling.label}” ({key!r}), which is retired, so it would never be shown: "
            "change or remove its condition first", "show_if",
        )
    if controlling.type not in CONDITION_TYPES:
        raise fail(
            f"its condition names “{controlling.label}” ({key!r}), a {controlling.type} question: "
            "only a choice, multiple-choice or yes/no question can decide", "show_if",
        )
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        raise fail("show_if needs at least one value", "show_if")
    known = {c.value for c in controlling.options()}
    for value in values:
        if value not in known:
            raise fail(f"its condition: {value!r} is not one of the answers of {key!r} ({', '.join(sorted(known))})", "show_if")
    return key, tuple(dict.fromkeys(values))


def shown(question: Question, answers: dict[str, Any]) -> bool:
    """Whether a question applies, given the answers so far (a list for a multiple choice)."""
    if question.show_if is None:
        return True
    key, values = question.show_if
    given = answers.get(key)
    if isinstance(given, list):
        return any(v in values for v in given)
    return given in values

"""A registration form built from a form definition (portal.questions.schema): one field per
question that asks something, the identity fields beside them (portal.forms.registration),
and the rules the definition states: lengths, ranges, picks, places, file types, conditions.

Conditions are the server's to apply, whatever the browser did: questions are read in form
order and a question is shown only if the answers before it say so (schema.shown). A hidden
question is never required and its answer is not kept; without JavaScript the page shows
every question, each conditional one saying when it applies.

Fields live in a BaseForm's mapping under their question's key, never as attributes, so no
key can shadow a method of the form. Building them is the costly part, so each process keeps
the form class it built per (form id, version) in a small bounded cache (form_type).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from wtforms import BooleanField, EmailField, Field, StringField, TextAreaField
from wtforms.fields.core import UnboundField
from wtforms.form import BaseForm
from wtforms.validators import Email, StopValidation

from portal.forms import checks
from portal.forms.fields import STRIP, plain_line, plain_text
from portal.questions.schema import DEFAULT_MAX_BYTES, FormDefinition, Question, condition_text, shown
from portal.text import normalise_email

# A question with no max_length still has one: the request must stay small.
TEXT_MAX = 500
TEXTAREA_MAX = 5000
# Ids the page itself uses; a question keyed so gets another id (keys hold no hyphen, so
# "<key>-help", "<key>-0"... never meet the page's own ids).
PAGE_IDS = frozenset({"main"})
CACHE_SIZE = 64


@dataclass(frozen=True)
class Sent:
    """A file as the browser sent it: the name it gave and the first bytes (at most the
    question's limit and one more, enough to know it is too large)."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Option:
    """One answer a choice-like question offers, as the page shows it."""

    value: str
    label: str
    id: str
    checked: bool
    left: int | None = None  # places left, None when the choice has no limit
    full: bool = False  # no place left for this registration: shown, not pickable
    kept: bool = False  # a place this registration holds: its places left are not its concern


@dataclass(frozen=True)
class Item:
    """One question as the page shows it (see templates/_questions.html)."""

    question: Question
    field: Any  # the bound field; None for a heading or help text
    id: str
    condition: str  # when it applies, in words, or ""
    options: tuple[Option, ...] = ()
    fixed: bool = False  # shown, not changeable (the manage page)
    answer: str = ""  # a fixed question's answer, in words
    file: str = ""  # a file question's stored file name (the manage page)
    values: tuple[str, ...] = ()  # a fixed question's answer as values (for conditions.js)
    rule: str = ""  # what the settings say, shown after the help ("Pick 2 or 3.")

    @property
    def described_by(self) -> str:
        ids = []
        if self.question.help or self.rule or self.question.sensitive:
            ids.append(f"{self.id}-help")
        if self.condition:
            ids.append(f"{self.id}-when")
        if self.field is not None and self.field.errors:
            ids.append(f"{self.id}-error")
        return " ".join(ids)


class OneValue(Field):
    """A single choice, a yes/no or a country: the value sent, or None."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = valuelist[0] if valuelist and isinstance(valuelist[0], str) and valuelist[0] else None


class PhoneValue(StringField):
    """A phone number: typed as the person likes, kept in E.164, shown again (the manage
    page) as people read it."""

    def process_data(self, value: Any) -> None:
        self.data = checks.readable_phone(value) if isinstance(value, str) and value else value


class ManyValues(Field):
    """A multiple choice: the values sent, once each, in the order sent."""

    def process_data(self, value: Any) -> None:
        self.data = list(value) if isinstance(value, (list, tuple)) else ([] if value in (None, "") else [value])

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = list(dict.fromkeys(v for v in valuelist if isinstance(v, str) and v))


class FileQuestion(Field):
    """A file question: the form is given the files read from the request (QuestionForm's
    `files`); whatever the request holds under the name is not read here."""

    content_type: str | None = None

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None


def _required(question: Question) -> Callable[[Any, Any], None]:
    message = {
        "choice": "Choose an answer.", "yesno": "Choose an answer.", "country": "Choose a country.",
        "multichoice": "Choose at least one.", "checkbox": "Tick this box to go on.", "file": "Choose a file to send.",
    }.get(question.type, "Enter your answer.")

    def check(form: QuestionForm, field: Any) -> None:
        if question.type == "file" and form.stored_files.get(question.key):
            return
        if checks.empty(field.data):
            raise StopValidation(message)

    return check


def _optional(form: QuestionForm, field: Any) -> None:
    if checks.empty(field.data):
        field.errors[:] = []
        raise StopValidation()


def _one_newline(value: Any) -> Any:
    """A line break as one character, as the browser counts it for maxlength (it sends two)."""
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def _field(question: Question, field_id: str) -> UnboundField:
    """The unbound field for one question, its checks in the order a person fixes them."""
    kind = question.type
    validators: list[Any] = [_required(question) if question.required else _optional]
    options: dict[str, Any] = {"id": field_id, "description": question.help}
    if kind in ("text", "textarea"):
        default_max = TEXT_MAX if kind == "text" else TEXTAREA_MAX
        validators += [checks.length(question.min_length, question.max_length or default_max)]
        validators.append(plain_line if kind == "text" else plain_text)
        if kind == "text":
            return StringField(question.label, validators, filters=STRIP, **options)
        return TextAreaField(question.label, validators, filters=[_one_newline, *STRIP], **options)
    if kind == "email":
        validators += [
            checks.length(None, 254), plain_line, Email("Enter a complete email address, like name@example.org."),
        ]
        return EmailField(question.label, validators, filters=STRIP, **options)
    if kind == "phone":
        validators += [plain_line, checks.phone]
        return PhoneValue(question.label, validators, filters=STRIP, **options)
    if kind == "number":
        validators += [plain_line, checks.number(question)]
        return StringField(question.label, validators, filters=STRIP, **options)
    if kind == "date":
        validators += [plain_line, checks.a_date(question)]
        return StringField(question.label, validators, filters=STRIP, **options)
    if kind == "country":
        validators.append(checks.country)
        return OneValue(question.label, validators, **options)
    if kind in ("choice", "yesno"):
        validators.append(checks.choice(question))
        return OneValue(question.label, validators, **options)
    if kind == "multichoice":
        validators.append(checks.picks(question))
        return ManyValues(question.label, validators, **options)
    if kind == "checkbox":
        return BooleanField(question.label, validators, **options)
    if kind == "file":
        validators.append(checks.upload(question))
        return FileQuestion(question.label, validators, **options)
    raise ValueError(f"no field for a {kind} question")  # pragma: no cover - schema.TYPES


class QuestionForm(BaseForm):
    """The fields of one form (identity fields, then the questions) bound to one request.
    Made by form_type(); the class holds the definition, the instance what was sent.

    `taken` are the places each (key, value) has taken at the event, `held` the ones this
    registration holds (it keeps them even when the choice is full); `fixed`, on the manage
    page, the stored answers of the questions the participant may not change (they are shown,
    never read from the request); `stored_files` the files a registration holds already."""

    kind: ClassVar[str] = "register"
    definition: ClassVar[FormDefinition] = FormDefinition()
    identity: ClassVar[tuple[str, ...]] = ()
    asking: ClassVar[tuple[Question, ...]] = ()  # the live questions that take an answer
    ids: ClassVar[Mapping[str, str]] = {}
    file_count: ClassVar[int] = 0
    max_fields: ClassVar[int] = 100
    has_conditions: ClassVar[bool] = False
    _spec: ClassVar[tuple[tuple[str, UnboundField], ...]] = ()

    def __init__(
        self,
        formdata: Any = None,
        *,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Sent] | None = None,
        taken: Mapping[tuple[str, str], int] | None = None,
        held: frozenset[tuple[str, str]] = frozenset(),
        fixed: Mapping[str, Any] | None = None,
        stored_files: Mapping[str, str] | None = None,
        phone_region: str = "SG",
    ) -> None:
        super().__init__(self._spec)
        self.taken = dict(taken or {})
        self.held = held
        self.fixed = dict(fixed or {})
        self.stored_files = dict(stored_files or {})
        self.phone_region = phone_region
        self.process(formdata, data=dict(data or {}))
        for key, sent in (files or {}).items():
            if key in self and isinstance(self[key], FileQuestion) and key not in self.fixed:
                self[key].data = sent

    @classmethod
    def fixed_answers(cls, stored: Mapping[str, Any], *, nominator_fixed: bool = False) -> dict[str, Any]:
        """For the manage page: the questions the participant may not change (not editable,
        files, the nominating officer once asked to endorse), with their stored answers."""
        return {
            q.key: stored.get(q.key) for q in cls.asking
            if not q.editable or q.type == "file" or (q.nominator and nominator_fixed)
        }

    @classmethod
    def file_limits(cls) -> dict[str, int]:
        """The file questions a new registrant answers, and the size each may have."""
        return {q.key: q.max_bytes or DEFAULT_MAX_BYTES for q in cls.asking if q.type == "file"}

    # --- what the questions hold -------------------------------------------------------

    def _given(self, question: Question) -> Any:
        if question.key in self.fixed:
            return self.fixed[question.key]
        return self[question.key].data

    def shown_keys(self) -> set[str]:
        """The questions that apply, in form order, given the answers before each."""
        so_far: dict[str, Any] = {}
        keys = set()
        for question in self.asking:
            if shown(question, so_far):
                keys.add(question.key)
                so_far[question.key] = self._given(question)
        return keys

    def validate(self, extra_validators: Any = None) -> bool:
        """Check the identity fields and every question shown; a hidden question is skipped
        (never required), and so is a fixed one (never read from the request)."""
        ok = True
        for name in self.identity:
            ok = self[name].validate(self) and ok
        showing = self.shown_keys()
        for question in self.asking:
            field = self[question.key]
            if question.key in showing and question.key not in self.fixed:
                ok = field.validate(self) and ok
                if question.nominator and field.data and not field.errors and self._own_address(field.data):
                    field.errors = ["Give your nominating officer's email address here, not your own: they are asked to endorse you."]
                    ok = False
            else:
                field.errors = []
        return ok

    def _own_address(self, given: str) -> bool:
        """Whether an answer is the registrant's own email (the identity field, when the form
        has it; the manage page's form does not, and the service keeps the officer fixed)."""
        if "email" not in self.identity:
            return False
        own = self["email"].data
        return isinstance(own, str) and normalise_email(given) == normalise_email(own)

    def answers(self) -> dict[str, Any]:
        """The answers to keep: the questions shown that the participant answered (files
        aside: register() stores their names), each as its type keeps it."""
        showing = self.shown_keys()
        kept: dict[str, Any] = {}
        for question in self.asking:
            if question.key not in showing or question.key in self.fixed or question.type == "file":
                continue
            value = checks.stored_value(question, self[question.key].data, self.phone_region)
            if not checks.empty(value):
                kept[question.key] = value
        return kept

    def merged_answers(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """The manage page's answers: the stored ones, with the changeable questions'
        answers replaced by what was sent (dropped when now hidden or emptied); fixed,
        retired and file questions' answers stay as they were."""
        merged = dict(stored)
        new = self.answers()
        for question in self.asking:
            if question.key in self.fixed or question.type == "file":
                continue
            if question.key in new:
                merged[question.key] = new[question.key]
            else:
                merged.pop(question.key, None)
        return merged

    def files_sent(self) -> list[tuple[Question, Sent]]:
        """The files to keep: those of the questions shown, checked by validate()."""
        showing = self.shown_keys()
        return [
            (q, self[q.key].data) for q in self.asking
            if q.type == "file" and q.key in showing and q.key not in self.fixed and isinstance(self[q.key].data, Sent)
        ]

    def files_to_choose_again(self) -> list[str]:
        """The labels of the file questions whose file the browser will not send again."""
        return [q.label for q in self.asking if q.type == "file" and isinstance(self[q.key].data, Sent)]

    def content_type(self, key: str) -> str:
        return self[key].content_type or ""

    def choice_full(self, key: str, value: str, message: str) -> None:
        """A choice found full when registering: say so on its question, and show it full."""
        question = self.definition.by_key().get(key)
        if question is not None:
            places = next((c.places for c in question.choices if c.value == value and c.places is not None), None)
            if places is not None:
                self.taken[(key, value)] = max(self.taken.get((key, value), 0), places)
        if key in self:
            self[key].errors = [*self[key].errors, message]
        else:
            self.form_errors.append(message)

    def places_left(self, question: Question, value: str) -> int | None:
        for choice in question.choices:
            if choice.value == value and choice.places is not None:
                return max(choice.places - self.taken.get((question.key, value), 0), 0)
        return None

    def is_full(self, question: Question, value: str) -> bool:
        left = self.places_left(question, value)
        return left is not None and left <= 0 and (question.key, value) not in self.held

    # --- what the page shows -----------------------------------------------------------

    def anchor(self, name: str) -> str:
        """The id an error summary links to for field `name` (a group's first option)."""
        if name in self.ids and self.definition.by_key()[name].type in ("choice", "multichoice", "yesno"):
            question = self.definition.by_key()[name]
            if question.type != "choice" or question.widget != "select":
                return f"{self.ids[name]}-0"
        return self[name].id if name in self else ""

    def items(self) -> Iterator[Item]:
        """The questions in form order as the page shows them (the retired left out)."""
        for question in self.definition.live():
            condition = condition_text(question, self.definition)
            if not question.asks:
                yield Item(question, None, "", condition)
                continue
            field = self[question.key]
            field_id = self.ids[question.key]
            fixed = question.key in self.fixed
            given = self._given(question) if fixed else field.data
            yield Item(
                question, field, field_id, condition, self._options(question, field_id, given), fixed,
                checks.words(question, given) if fixed else "", self.stored_files.get(question.key, ""),
                _values(given) if fixed else (), checks.rule(question),
            )

    def _options(self, question: Question, field_id: str, given: Any) -> tuple[Option, ...]:
        picked = set(given) if isinstance(given, list) else {given}
        if question.type == "country":
            return tuple(Option(name, name, "", name in picked) for name in checks.country_names())
        return tuple(
            Option(
                choice.value, choice.label, f"{field_id}-{n}", choice.value in picked,
                self.places_left(question, choice.value), self.is_full(question, choice.value),
                (question.key, choice.value) in self.held,
            )
            for n, choice in enumerate(question.options())
        )

    def accept(self, question: Question) -> str:
        """The input's accept attribute: the types and their usual extensions."""
        return ",".join([*question.accept, *(checks.EXTENSIONS[t] for t in question.accept if t in checks.EXTENSIONS)])

    @staticmethod
    def lengths(question: Question) -> dict[str, int]:
        """The input's maxlength and minlength, so that the browser stops where the server
        would refuse (the server counts a line break as the browser does: one)."""
        limits = {"text": TEXT_MAX, "textarea": TEXTAREA_MAX, "email": 254}
        if question.type not in limits:
            return {}
        found = {"maxlength": question.max_length or limits[question.type]}
        if question.min_length:
            found["minlength"] = question.min_length
        return found


def _values(given: Any) -> tuple[str, ...]:
    if checks.empty(given):
        return ()
    return tuple(str(v) for v in given) if isinstance(given, list) else (str(given),)


def held_places(definition: FormDefinition, answers: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """The (key, value) choices with places that stored answers hold."""
    held = set()
    for question in definition.live():
        if question.has_places and question.key in answers:
            given = answers[question.key]
            held.update((question.key, v) for v in (given if isinstance(given, list) else [given]) if isinstance(v, str))
    return frozenset(held)


IdentityFields = Callable[[FormDefinition], tuple[list[tuple[str, UnboundField]], list[tuple[str, UnboundField]]]]

_built: OrderedDict[tuple[str, int, int], type[QuestionForm]] = OrderedDict()
_lock = threading.Lock()


def form_type(kind: str, definition: FormDefinition, key: tuple[int, int] | None, identity: IdentityFields) -> type[QuestionForm]:
    """The form class for a definition; `identity(definition)` gives the fields before the
    questions and those after them. Kept per (kind, form id, version); an unsaved definition
    (key None, the builder's preview) is built each time."""
    if key is None:
        return _build(kind, definition, identity)
    cache_key = (kind, *key)
    with _lock:
        found = _built.get(cache_key)
        # Ids can come back (SQLite reuses the highest after a delete): the definition must
        # be the same one, not merely the same (id, version).
        if found is not None and found.definition == definition:
            _built.move_to_end(cache_key)
            return found
    made = _build(kind, definition, identity)
    with _lock:
        _built[cache_key] = made
        _built.move_to_end(cache_key)
        while len(_built) > CACHE_SIZE:
            _built.popitem(last=False)
    return made


def _build(kind: str, definition: FormDefinition, identity: IdentityFields) -> type[QuestionForm]:
    before, after = identity(definition)
    asking = tuple(q for q in definition.live() if q.asks)
    ids = {q.key: (q.key if q.key not in PAGE_IDS else f"q-{q.key}") for q in asking}
    spec = (*before, *((q.key, _field(q, ids[q.key])) for q in asking), *after)
    attrs = {
        "kind": kind,
        "definition": definition,
        "identity": tuple(name for name, _ in (*before, *after)),
        "asking": asking,
        "ids": ids,
        "file_count": sum(1 for q in asking if q.type == "file"),
        # Each value of a multiple choice is one field of the request.
        "max_fields": 100 + sum(len(q.choices) for q in asking if q.type == "multichoice"),
        "has_conditions": any(q.show_if for q in definition.live()),
        "_spec": spec,
    }
    return type(f"QuestionForm_{kind}", (QuestionForm,), attrs)

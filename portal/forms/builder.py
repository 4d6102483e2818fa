"""The form builder's WTForms: one question, edited without JavaScript.

A question form has the fields its type uses and no others (`question_form(kind)`). Choices
are typed one a line, `value | label | places`, so that a phone and a keyboard do as well as
a mouse. The form checks shape; the rules of a usable form (unique keys, conditions on an
earlier choice question, min not above max, places not negative) are the schema's, whose
FormDefinitionError the page puts on the field it names (`place_error`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    Form,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.forms.fields import STRIP, options, plain_line, plain_text
from portal.questions.schema import (
    DEFAULT_MAX_BYTES,
    DISPLAY_TYPES,
    KEY_PATTERN,
    MAX_MAX_BYTES,
    UPLOAD_TYPES,
    FormDefinitionError,
    Question,
    looks_sensitive,
    sensitive_by_default,
    without_place,
)

TYPE_NAMES = {
    "text": "Short text",
    "textarea": "Long text",
    "email": "Email address",
    "phone": "Phone number",
    "number": "Number",
    "date": "Date",
    "country": "Country",
    "choice": "Single choice",
    "multichoice": "Multiple choice",
    "yesno": "Yes or no",
    "checkbox": "Checkbox that must be ticked",
    "file": "File upload",
    "heading": "Heading",
    "info": "Paragraph of help text",
}
_MB = 1_000_000
_KEY = Regexp(KEY_PATTERN, message="Start with a lower-case letter; use only lower-case letters, digits and _.")
# The schema's messages name the import format's properties; the page names its fields.
_BOUNDS = re.compile(r"\b(?:min_length|max_length|min_choices|max_choices|min|max)\b")
SENSITIVE_HELP = (
    "Its answers are encrypted in the database, hidden in the roster until an organiser chooses to reveal one "
    "(each reveal is recorded) and left out of exports unless asked for by name. Ticked at first for a file, "
    "and suggested when the label mentions a passport, date of birth, identity number, medical or dietary needs."
)
SENSITIVE_SUGGESTED = (
    "The label asks for something usually sensitive (a passport, date of birth, identity number, medical or dietary "
    "needs), so “Sensitive” is now ticked: its answers will be sealed. Untick it if they are not sensitive, then add the question."
)


class NewQuestionForm(Form):
    """The first step of adding a question: its type (sent by GET, so it works without JS)."""

    type = SelectField("Type of question", [InputRequired()], choices=options(list(TYPE_NAMES.items())))


class MoveForm(Form):
    """The buttons beside each question on the builder page."""

    stamp = StringField(validators=[DataRequired(), Length(max=40)])
    action = SelectField(choices=options([(a, a) for a in ("up", "down", "retire", "unretire", "delete")]))
    # Delete asks first: the confirming page's button sends this as well.
    confirmed = BooleanField()


class StampForm(Form):
    stamp = StringField(validators=[DataRequired(), Length(max=40)])


class SettingsForm(StampForm):
    organisation_required = BooleanField(
        "Organisation required", description="Registrants must name their organisation (the field is always on the form)."
    )


class CopyForm(Form):
    source = SelectField("Copy the questions of", [InputRequired()], choices=[], validate_choice=True)


def parse_choices(text: str) -> list[dict[str, Any]]:
    """`value | label | places` lines as the import's choice objects; ValidationError names
    the line. A line of one part is its own value and label; empty places means no limit."""
    choices: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        if len(parts) > 3:
            raise ValidationError(f"Line {number}: use | only to separate the value, the label and the places.")
        value = parts[0]
        if not value:
            raise ValidationError(f"Line {number}: start the line with the choice's value.")
        choice: dict[str, Any] = {"value": value, "label": parts[1] if len(parts) > 1 and parts[1] else value}
        if len(parts) == 3 and parts[2]:
            try:
                choice["places"] = int(parts[2])
            except ValueError:
                raise ValidationError(f"Line {number}: places must be a whole number, or nothing for no limit.") from None
        choices.append(choice)
    if not choices:
        raise ValidationError("Give at least one choice, one a line.")
    return choices


def choices_text(question: Question) -> str:
    lines = []
    for choice in question.choices:
        line = f"{choice.value} | {choice.label}"
        if choice.places is not None:
            line += f" | {choice.places}"
        lines.append(line)
    return "\n".join(lines)


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


class _QuestionBase(Form):
    """Fields every type may have; question_form adds the type's own."""

    kind = "text"

    def validate_show_if(self, field: Any) -> None:
        keys = {pick.partition("=")[0] for pick in field.data or []}
        if len(keys) > 1:
            raise ValidationError("Choose answers of one question only: a question can depend on one earlier question.")

    def item(self) -> dict[str, Any]:
        """The question in the import format's shape."""
        kind = self.type.data if "type" in self._fields else self.kind
        data: dict[str, Any] = {"type": kind, "label": (self.label.data or "").replace("\r\n", "\n").strip()}
        if self.key.data:
            data["key"] = self.key.data
        if self.help.data:
            data["help"] = self.help.data.replace("\r\n", "\n")
        for flag in ("required", "decimal", "nominator"):
            if flag in self._fields and self[flag].data:
                data[flag] = True
        if "editable" in self._fields and not self.editable.data:
            data["editable"] = False
        if "sensitive" in self._fields:
            # Always said: a file question is sensitive unless the form says it is not.
            data["sensitive"] = bool(self.sensitive.data)
        for name in ("min_length", "max_length", "min_choices", "max_choices"):
            if name in self._fields and self[name].data is not None:
                data[name] = self[name].data
        if kind == "number":
            for name in ("min", "max"):
                if self[name].data is not None:
                    data[name] = _number(self[name].data)
        if kind == "date":
            for name in ("min", "max"):
                if self[name].data is not None:
                    data[name] = self[name].data.isoformat()
        if "widget" in self._fields and self.widget.data:
            data["widget"] = self.widget.data
        if "choices" in self._fields:
            data["choices"] = parse_choices(self.choices.data or "")
        if kind == "file":
            data["accept"] = list(self.accept.data or [])
            if self.max_mb.data is not None:
                data["max_bytes"] = int(self.max_mb.data * _MB)
        picks = [pick.partition("=") for pick in self.show_if.data or []]
        if picks:
            data["show_if"] = {picks[0][0]: [value for _, _, value in picks]}
        return data

    def suggest_sensitive(self) -> bool:
        """A new question whose label looks sensitive (schema.looks_sensitive) but whose box
        is not ticked, the first time it is sent: tick the box and say why; True when it did
        (the page comes back for the organiser to confirm or untick; a second send is theirs)."""
        if "sensitive_seen" not in self._fields or "sensitive" not in self._fields:
            return False
        if self.sensitive.data or self.sensitive_seen.data or not looks_sensitive(self.label.data or ""):
            return False
        self.sensitive.data = True
        self.sensitive_seen.data = "1"
        return True

    def offer_conditions(self, deciders: Iterable[Question]) -> None:
        """The answers of earlier choice questions that a condition may name."""
        self.show_if.choices = options([(f"{q.key}={c.value}", c.label) for q in deciders for c in q.options()])

    def validate_choices(self, field: Any) -> None:
        parse_choices(field.data or "")

    def place_error(self, error: FormDefinitionError, index: int | None) -> str | None:
        """Put the schema's refusal on the field it names when it is about this question;
        otherwise return it for the top of the page."""
        name = {"max_bytes": "max_mb", "nominator": "nominator"}.get(error.field or "", error.field or "")
        mine = error.index is None or index is None or error.index == index
        if mine and name in self._fields:
            detail = without_place(error)
            message = _BOUNDS.sub(lambda m: f"“{self[m.group(0)].label.text}”" if m.group(0) in self._fields else m.group(0), detail)
            message = message[:1].upper() + message[1:]
            self[name].errors = [*self[name].errors, message if message.endswith((".", "!", "?")) else message + "."]
            return None
        return error.message


def _whole(label: str, description: str = "") -> IntegerField:
    return IntegerField(
        label, [Optional()], description=description, invalid_value_message="Enter a whole number, or leave it empty.",
    )


@cache
def question_form(kind: str, *, editing: bool = False) -> type[_QuestionBase]:
    """The form class for a question of type `kind` (built once per type)."""
    asks = kind not in DISPLAY_TYPES
    fields: dict[str, Any] = {"kind": kind}
    if asks:
        fields["key"] = StringField(
            "Key", [DataRequired("Give the question a key."), Length(max=40), _KEY], filters=STRIP,
            description="The name its answers are kept under and the export's column: lower-case letters, digits and _, "
            "e.g. dietary. It cannot change once someone has answered.",
        )
    else:
        fields["key"] = StringField("Key", [Optional(), Length(max=40), _KEY], filters=STRIP, description="Not needed.")
    if kind == "info":
        fields["label"] = TextAreaField("Text", [DataRequired("Write the text to show."), Length(max=2000), plain_text], filters=STRIP)
    else:
        fields["label"] = StringField("Label", [DataRequired("Give the question a label."), Length(max=300), plain_line], filters=STRIP)
    fields["help"] = TextAreaField(
        "Help text", [Optional(), Length(max=1000), plain_text], description="Shown under the question." if asks else "",
    )
    if asks:
        fields["required"] = BooleanField("Required" if kind != "checkbox" else "Must be ticked to register")
        fields["editable"] = BooleanField(
            "The participant may change the answer later, on their registration's page", default=True,
        )
        # A choice with places cannot be sensitive (its picks are counted in the open): the
        # schema refuses the two together, on this field.
        fields["sensitive"] = BooleanField(
            "Sensitive: sealed, masked in the roster, left out of exports", default=sensitive_by_default(kind),
            description=SENSITIVE_HELP,
        )
        if not editing:
            # Set once a new question's page has suggested ticking "Sensitive" (suggest_sensitive).
            fields["sensitive_seen"] = HiddenField()
    if editing and kind in ("text", "textarea"):
        fields["type"] = SelectField("Type of question", [InputRequired()], choices=options([("text", "Short text"), ("textarea", "Long text")]), default=kind)
    if kind in ("text", "textarea"):
        fields["min_length"] = _whole("Fewest characters")
        fields["max_length"] = _whole("Most characters")
    if kind == "number":
        fields["min"] = DecimalField("Smallest", [Optional()], invalid_value_message="Enter a number, or leave it empty.")
        fields["max"] = DecimalField("Largest", [Optional()], invalid_value_message="Enter a number, or leave it empty.")
        fields["decimal"] = BooleanField("Allow decimals (otherwise whole numbers only)")
    if kind == "date":
        fields["min"] = DateField("Earliest", [Optional()], invalid_value_message="Enter a date as YYYY-MM-DD, or leave it empty.")
        fields["max"] = DateField("Latest", [Optional()], invalid_value_message="Enter a date as YYYY-MM-DD, or leave it empty.")
    if kind in ("choice", "country"):
        fields["widget"] = SelectField(
            "Shown as", choices=options([("", "The portal's choice"), ("radio", "Buttons, one a line"), ("select", "A drop-down list")]),
            default="",
        )
    if kind in ("choice", "multichoice"):
        fields["choices"] = TextAreaField(
            "Choices", [DataRequired("Give at least one choice, one a line."), Length(max=20_000), plain_text],
            description="One a line: value | label | places. The value is kept with each answer and cannot change once picked; "
            "the label is what people see. Places are optional: leave them out for no limit. "
            "E.g. “a | Workshop A | 20”.",
        )
    if kind == "multichoice":
        fields["min_choices"] = _whole("Fewest picks")
        fields["max_choices"] = _whole("Most picks")
    if kind == "file":
        fields["accept"] = SelectMultipleField(
            "File types accepted", choices=options(list(UPLOAD_TYPES.items())), default=["application/pdf"],
            widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
            validators=[DataRequired("Choose at least one type of file.")],
        )
        fields["max_mb"] = DecimalField(
            "Largest file, in MB", [Optional(), NumberRange(Decimal("0.1"), Decimal(MAX_MAX_BYTES // _MB), "Enter from 0.1 to 20 MB.")],
            places=1, description=f"Empty: {DEFAULT_MAX_BYTES // _MB} MB. At most 20.",
            invalid_value_message="Enter a number of megabytes, or leave it empty.",
        )
    if kind == "email":
        fields["nominator"] = BooleanField(
            "This is the nominating officer's email: they are asked to endorse the registration (nomination programmes)"
        )
    fields["show_if"] = SelectMultipleField(
        "Only show this when the participant answered", choices=[], validate_choice=True,
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
    )
    return type(f"{kind.title()}QuestionForm", (_QuestionBase,), fields)


def question_data(question: Question) -> dict[str, Any]:
    """A question as its form shows it."""
    data: dict[str, Any] = {
        "type": question.type, "key": question.key, "label": question.label, "help": question.help,
        "required": question.required, "editable": question.editable, "decimal": question.decimal,
        "nominator": question.nominator, "widget": question.widget or "", "sensitive": question.sensitive,
        "min_length": question.min_length, "max_length": question.max_length,
        "min_choices": question.min_choices, "max_choices": question.max_choices,
        "choices": choices_text(question), "accept": list(question.accept),
        "max_mb": Decimal(question.max_bytes) / _MB if question.max_bytes else None,
    }
    if question.type == "number":
        data["min"] = None if question.min is None else Decimal(str(question.min))
        data["max"] = None if question.max is None else Decimal(str(question.max))
    if question.type == "date":
        data["min"] = date.fromisoformat(str(question.min)) if question.min else None
        data["max"] = date.fromisoformat(str(question.max)) if question.max else None
    if question.show_if:
        key, values = question.show_if
        data["show_if"] = [f"{key}={value}" for value in values]
    return data

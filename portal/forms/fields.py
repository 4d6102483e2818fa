"""What every form shares: the checks for control characters, stripping, choices, the length
of a search, and the one-line summary of a bad request."""

from __future__ import annotations

import re
from typing import Any

from wtforms import EmailField, Form
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, Email, Length, ValidationError

# The longest search or filter text any page reads; longer is cut, not refused.
MAX_TEXT = 200
# C0 controls except tab/newline, DEL, and the Unicode bidirectional overrides that can make
# a name display as something else in a roster.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_NEWLINE = re.compile(r"[\r\n\t]")


def plain_line(form: Form, field: Any) -> None:
    if field.data and (_CONTROL.search(field.data) or _NEWLINE.search(field.data)):
        raise ValidationError("Remove the control characters or line breaks from this field.")


def plain_text(form: Form, field: Any) -> None:
    if field.data and _CONTROL.search(field.data):
        raise ValidationError("Remove the control characters from this text.")


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# Text fields use DataRequired, which looks at the value after STRIP: InputRequired only sees
# that something was sent, so a name of spaces would pass it and be stored empty.
STRIP = [_strip]


def lowered(value: Any) -> Any:
    """A filter: what was typed, without surrounding space, in lower case (keys, slugs)."""
    return value.strip().lower() if isinstance(value, str) else value


def options(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def first_error(form: Form) -> str:
    """One line naming what was wrong, for a 400 page about a bad link or button."""
    for name, errors in form.errors.items():
        return f"{name}: {errors[0] if isinstance(errors, list) and errors else errors}"
    return "the request"


def email_field(description: str) -> UnboundField:
    """An email address as every public form asks for it (registration, subscription): one
    line, at most 254 characters, a complete address."""
    return EmailField(
        "Email address",
        [
            DataRequired("Enter your email address."),
            Length(max=254, message="An email address has at most 254 characters."),
            plain_line,
            Email("Enter a complete email address, like name@example.org."),
        ],
        filters=STRIP,
        description=description,
    )

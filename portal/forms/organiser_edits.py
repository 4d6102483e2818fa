"""The organisers' forms on one registration and at the door: correcting the details, an
internal note, and a walk-in. Shape only; whether an address is free or a seat is left is
the registrations package's business."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, Form, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional

from portal.forms.fields import STRIP, plain_line, plain_text

NOTE_LENGTH = 4000


def _name() -> StringField:
    return StringField(
        "Full name", [DataRequired("Enter the participant's full name."), Length(max=200, message="Keep the name under 200 characters."), plain_line],
        filters=STRIP,
    )


def _email() -> EmailField:
    return EmailField(
        "Email address",
        [
            DataRequired("Enter the participant's email address."),
            Length(max=254, message="An email address has at most 254 characters."),
            plain_line,
            Email("Enter a complete email address, like name@example.org."),
        ],
        filters=STRIP,
    )


def _organisation() -> StringField:
    return StringField("Organisation", [Optional(), Length(max=200, message="Keep the organisation under 200 characters."), plain_line], filters=STRIP)


class DetailsEditForm(Form):
    """An organiser corrects a registration's name, email or organisation."""

    name = _name()
    email = _email()
    organisation = _organisation()


class NoteForm(Form):
    text = TextAreaField(
        "Internal note",
        [DataRequired("Write the note first."), Length(max=NOTE_LENGTH, message=f"Keep a note under {NOTE_LENGTH} characters."), plain_text],
        filters=STRIP,
        description="Seen by organisers only: never shown or sent to the participant.",
    )


class WalkInForm(Form):
    """Someone who came to the door without registering."""

    name = _name()
    email = _email()
    organisation = _organisation()
    over_capacity = BooleanField("Admit anyway (over capacity)")

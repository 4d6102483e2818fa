"""The back office's account forms: signing in, adding an organiser, changing a password,
changing an account's role."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    EmailField,
    Form,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import Email, EqualTo, InputRequired, Length, Optional

from portal.accounts.organisers import ROLE_WORDS
from portal.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from portal.forms.fields import STRIP, options, plain_line


class SignInForm(Form):
    # plain_line: the address is looked up, and PostgreSQL refuses NUL in text.
    email = EmailField("Email address", [InputRequired("Enter your email address."), Length(max=254), plain_line], filters=STRIP)
    password = PasswordField("Password", [InputRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)])
    next = HiddenField()


_PASSWORD_HELP = f"At least {MIN_PASSWORD_LENGTH} characters. A few unrelated words make a good one."


def _new_password(label: str) -> PasswordField:
    return PasswordField(
        label,
        [InputRequired("Enter a password."),
         Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH, message=f"Use at least {MIN_PASSWORD_LENGTH} characters.")],
        description=_PASSWORD_HELP,
    )


class OrganiserForm(Form):
    email = EmailField(
        "Email address",
        [InputRequired("Enter their email address."), Length(max=254), plain_line,
         Email("Enter a complete email address, like name@example.org.")],
        filters=STRIP,
    )
    name = StringField("Name", [Optional(), Length(max=200), plain_line], filters=STRIP)
    password = _new_password("First password")
    is_admin = BooleanField("Admin: can also manage organiser accounts")
    role = RadioField(
        "Role", choices=options([(r.value, words) for r, words in ROLE_WORDS.items()]), default="organiser",
        invalid_choice_message="Choose organiser, programme manager or door volunteer.",
    )
    # The programmes' codes; the handler sets the choices from the programmes there are.
    programmes = SelectMultipleField(
        "Programmes (a programme manager's)", choices=[], invalid_choice_message="Choose programmes from the list.",
    )


class PasswordForm(Form):
    current = PasswordField("Current password", [InputRequired("Enter your current password."), Length(max=MAX_PASSWORD_LENGTH)])
    new = _new_password("New password")
    confirm = PasswordField("New password again", [InputRequired("Repeat the new password."), EqualTo("new", "The two new passwords differ.")])


class OrganiserChangeForm(Form):
    change = SelectField(choices=options([(c, c) for c in ("make_admin", "remove_admin", "deactivate", "reactivate", "set_role")]))
    # For "set_role" only.
    role = RadioField(
        choices=options([(r.value, words) for r, words in ROLE_WORDS.items()]), validate_choice=False, default="",
    )
    programmes = SelectMultipleField(choices=[], validate_choice=False)

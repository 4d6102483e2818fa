"""The follow-up form: when after the end, a subject and a Markdown body with placeholders.
Shape only; catalogue.followup applies the rules again when it saves."""

from __future__ import annotations

from typing import Any

from wtforms import Form, HiddenField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, Optional, Regexp, ValidationError

from portal.catalogue.reminders import MAX_BODY, MAX_SUBJECT, parse_after_text
from portal.errors import InvalidInput
from portal.forms.fields import STRIP, plain_line, plain_text
from portal.mail.letters import check_placeholders


def _placeholders(subject: str, body: str) -> None:
    try:
        check_placeholders(subject, body)
    except InvalidInput as exc:
        raise ValidationError(exc.message) from None


class FollowupForm(Form):
    after = StringField(
        "When, after the event ends", [DataRequired("Say when it goes out, e.g. P1D or 1 day."), Length(max=40), plain_line],
        filters=STRIP, default="P1D",
        description="An ISO 8601 duration or words: P1D or 1 day, PT2H or 2 hours, P1W or 1 week. At most 90 days.",
    )
    subject = StringField("Subject", [DataRequired("Write a subject."), Length(max=MAX_SUBJECT), plain_line], filters=STRIP)
    body = TextAreaField(
        "Message", [DataRequired("Write the message."), Length(max=MAX_BODY), plain_text],
        description="Markdown: **bold**, *italic*, [links](https://…), lists. The placeholders are listed below.",
    )

    # Which button: save it, or send a test of what is typed to the organiser.
    action = HiddenField(validators=[Optional(), AnyOf(("save", "test"), message="damaged")], default="save")
    # "Send it now to N people": the N the organiser confirmed, for a follow-up whose time has passed.
    confirm = HiddenField(validators=[Optional(), Regexp(r"^\d{1,9}$", message="damaged")])

    def validate_after(self, field: Any) -> None:
        try:
            parse_after_text(field.data or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def validate_subject(self, field: Any) -> None:
        _placeholders(field.data or "", "")

    def validate_body(self, field: Any) -> None:
        _placeholders("", field.data or "")

    def after_duration(self) -> str:
        """The time after the end as stored (P1D), after validate()."""
        return parse_after_text(self.after.data or "")

    def testing(self) -> bool:
        return self.action.data == "test"

    def confirmed(self) -> int | None:
        """How many people the organiser confirmed it goes to now, if they did."""
        return int(self.confirm.data) if self.confirm.data else None

    def text(self) -> str:
        return (self.body.data or "").replace("\r\n", "\n")

"""The compose form of an organiser's message to part of a roster. It checks shape only (a
status ticked, a subject of one line); the rules (placeholders, who may be written to, which
answers a question has) are the service's (rosters/messages.py)."""

from __future__ import annotations

from typing import Any

from wtforms import Form, HiddenField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from portal.forms.fields import STRIP, options, plain_line, plain_text
from portal.rosters.messages import MAX_BODY, MAX_SUBJECT, ChoiceQuestion

STATUS_LABELS = (("confirmed", "Confirmed"), ("waitlisted", "On the waiting list"), ("pending", "Pending approval"))
CHECKED_IN = (("", "Either"), ("yes", "Checked in"), ("no", "Not checked in"))
ACTIONS = ("preview", "test", "send")


def _some_status(form: Form, field: Any) -> None:
    if not field.data:
        raise ValidationError("Tick at least one: confirmed, on the waiting list or pending.")


class MessageForm(Form):
    statuses = SelectMultipleField(
        "Registrants who are", [_some_status], choices=options(list(STATUS_LABELS)), default=["confirmed"],
        invalid_choice_message="Choose confirmed, on the waiting list or pending.",
    )
    checked_in = RadioField("Checked in at the door", choices=options(list(CHECKED_IN)), default="")
    # "key:value": a question's key has no colon (questions.schema.KEY_PATTERN), a value may.
    answer = SelectField(
        "Who answered", [Optional()], default="", invalid_choice_message="Choose one of the answers listed.",
        description="Only those who gave this answer; for a question with several picks, those who picked it among others.",
    )
    subject = StringField(
        "Subject", [DataRequired("Write a subject."), Length(max=MAX_SUBJECT), plain_line], filters=STRIP,
    )
    body = TextAreaField(
        "Message", [DataRequired("Write the message."), Length(max=MAX_BODY), plain_text], filters=STRIP,
        description="Markdown: **bold**, *italic*, [a link](https://example.org), lists with - at the start of a line.",
    )
    # The form's one-time value: a second submission of it sends nothing more.
    nonce = HiddenField(validators=[Optional(), Length(max=64), Regexp(r"^[A-Za-z0-9_-]+$", message="damaged")])
    # How many the Send button said the message goes to: sending to another number is refused.
    expected = HiddenField(validators=[Optional(), Regexp(r"^\d{1,9}$", message="damaged")])
    action = SelectField(choices=options([(a, a) for a in ACTIONS]), default="preview", invalid_choice_message="Choose preview, test or send.")

    def with_questions(self, questions: list[ChoiceQuestion]) -> MessageForm:
        """Offer the answers of the event's choice questions, each under its question."""
        choices = [SelectChoice("", "Anyone, whatever they answered")]
        for question in questions:
            group = question.label + (" (retired)" if question.retired else "")
            choices += [SelectChoice(f"{question.key}:{value}", label, optgroup=group) for value, label in question.options]
        self.answer.choices = choices
        return self

    def expected_count(self) -> int | None:
        return int(self.expected.data) if self.expected.data else None

    def audience(self) -> dict[str, Any]:
        """The recipients chosen, in the shape the service takes (letters.validate_audience)."""
        question, _, answer = (self.answer.data or "").partition(":")
        return {
            "statuses": list(self.statuses.data or []),
            "checked_in": {"yes": True, "no": False}.get(self.checked_in.data or ""),
            "question": question or None,
            "answer": answer if question else None,
        }

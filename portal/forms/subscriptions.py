"""The forms to subscribe to new events by email and to change one's choices: an address
(checked as the registration form checks one), programmes and categories as checkboxes
(none ticked: all of them), and how often. Shape only: the subscriptions service decides."""

from __future__ import annotations

from typing import Any

from wtforms import Form, RadioField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.forms.fields import email_field
from portal.models import Frequency
from portal.subscriptions.emails import frequency_words


class _Offered:
    """Refuses a value the page did not offer, with a message rather than WTForms' own."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form: Form, field: Any) -> None:
        offered = {value for value, _ in field.choices or []}
        if any(value not in offered for value in field.data or []):
            raise ValidationError(self.message)


def _checkboxes(label: str, message: str, description: str) -> Any:
    return SelectMultipleField(
        label, [_Offered(message)], choices=[], validate_choice=False, description=description,
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
    )


class PreferencesForm(Form):
    """What a subscriber receives: programmes, categories, how often."""

    programmes = _checkboxes(
        "Programmes", "Choose from the programmes listed.",
        "Tick none to hear of every programme's events and of events outside any programme.",
    )
    categories = _checkboxes("Categories", "Choose from the categories listed.", "Tick none to hear of every category.")
    frequency = RadioField("How often", [DataRequired("Choose how often to hear from us.")], choices=[], default="each")

    def __init__(self, formdata: Any = None, *, programmes: list[tuple[str, str]], categories: list[str], digest_weekday: int, **kwargs: Any) -> None:
        super().__init__(formdata, **kwargs)
        self["programmes"].choices = list(programmes)
        self["categories"].choices = [(c, c.replace("-", " ").capitalize()) for c in categories]
        self["frequency"].choices = [
            (Frequency.EACH.value, frequency_words(Frequency.EACH, digest_weekday)),
            (Frequency.WEEKLY.value, frequency_words(Frequency.WEEKLY, digest_weekday)),
        ]

    def choices(self) -> dict[str, Any]:
        """The choices as the service takes them."""
        return {
            "programmes": list(self["programmes"].data or []),
            "categories": list(self["categories"].data or []),
            "frequency": self["frequency"].data,
        }


class SubscribeForm(PreferencesForm):
    """The public form: an address, and what to send to it."""

    email = email_field("We send a link to confirm to this address; nothing else until you confirm.")
    # A field people never see; bots fill it in (as on the registration form).
    website = StringField("Leave this empty", [Optional()])

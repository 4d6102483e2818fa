"""The public registration form: its shape, and the programme's own questions.

The form checks shape only (present, long enough, a real email address, no control
characters); whether a seat is free is the registration service's business.
"""

from __future__ import annotations

from typing import Any

from wtforms import BooleanField, EmailField, Form, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional

from portal.forms.fields import STRIP, plain_line, plain_text
from portal.models import Admission


class DetailsForm(Form):
    """What a participant can change on the manage page."""

    name = StringField(
        "Full name",
        [DataRequired("Enter your full name."), Length(max=200, message="Keep your name under 200 characters."), plain_line],
        filters=STRIP,
        description="As it should appear on your name badge and certificate.",
    )
    organisation = StringField(
        "Organisation",
        [Optional(), Length(max=200, message="Keep the organisation under 200 characters."), plain_line],
        filters=STRIP,
    )
    position = StringField(
        "Position or job title",
        [Optional(), Length(max=200, message="Keep the position under 200 characters."), plain_line],
        filters=STRIP,
    )

    # Fields that are not columns of Registration but answers kept with it.
    answer_fields: tuple[str, ...] = ("position",)

    def answers(self) -> dict[str, str]:
        return {name: self[name].data or "" for name in self.answer_fields}


class RegistrationForm(DetailsForm):
    email = EmailField(
        "Email address",
        [
            DataRequired("Enter your email address."),
            Length(max=254, message="An email address has at most 254 characters."),
            plain_line,
            Email("Enter a complete email address, like name@example.org."),
        ],
        filters=STRIP,
        description="We send your confirmation and a private link to manage your registration here.",
    )
    consent = BooleanField(
        "I agree that the portal keeps these details to run this event, as the privacy notice above describes.",
        [InputRequired("You need to agree to the privacy notice to register.")],
    )
    # A field people never see; bots fill it in. See handlers.
    website = StringField("Leave this empty", [Optional()])


# The programme's own questions. Field names become keys of Registration.answers.
def _military_fields() -> dict[str, Any]:
    return {
        "rank": StringField("Rank", [DataRequired("Enter your rank."), Length(max=100, message="Keep this to 100 characters or fewer."), plain_line], filters=STRIP),
        "service": StringField(
            "Service or agency",
            [DataRequired("Enter your service or agency (e.g. Army, Navy, Ministry of Defence)."), Length(max=200, message="Keep this to 200 characters or fewer."), plain_line],
            filters=STRIP,
        ),
        "country": StringField("Country", [DataRequired("Enter your country."), Length(max=100, message="Keep this to 100 characters or fewer."), plain_line], filters=STRIP),
    }


def _nomination_fields() -> dict[str, Any]:
    return {
        "nominating_authority": StringField(
            "Nominating authority",
            [DataRequired("Name the ministry, armed service or embassy nominating you."), Length(max=200, message="Keep this to 200 characters or fewer."), plain_line],
            filters=STRIP,
            description="The ministry, armed service or embassy that nominates you.",
        ),
        "nominator_email": EmailField(
            "Nominating officer's email",
            [Optional(), Length(max=254, message="Keep this to 254 characters or fewer."), plain_line, Email("Enter a complete email address, like name@example.org.")],
            filters=STRIP,
        ),
    }


def _statement_fields() -> dict[str, Any]:
    return {
        "statement": TextAreaField(
            "Statement of purpose",
            [
                DataRequired("Write a short statement of purpose."),
                Length(min=50, max=3000, message="Write between 50 and 3,000 characters."),
                plain_text,
            ],
            filters=STRIP,
            description="Why you wish to take part and what you would bring (50 to 3,000 characters).",
        ),
    }


def _billing_fields() -> dict[str, Any]:
    return {
        "billing_contact": StringField(
            "Billing contact name",
            [DataRequired("Name the person who handles the course fee."), Length(max=200, message="Keep this to 200 characters or fewer."), plain_line],
            filters=STRIP,
        ),
        "billing_email": EmailField(
            "Billing contact email",
            [
                DataRequired("Enter the billing contact's email address."),
                Length(max=254, message="Keep this to 254 characters or fewer."),
                plain_line,
                Email("Enter a complete email address, like name@example.org."),
            ],
            filters=STRIP,
        ),
    }


PROGRAMME_QUESTIONS = {
    "appsmo": _military_fields,
    "appsno": _military_fields,
    "isf-asia": _statement_fields,
    "tatc": _billing_fields,
}

_cache: dict[tuple[type[Form], str | None, Admission], type[DetailsForm]] = {}


def form_class(base: type[DetailsForm], programme_code: str | None, admission: Admission) -> type[DetailsForm]:
    """The form for one programme: the common fields plus the programme's own questions."""
    key = (base, programme_code, admission)
    if key not in _cache:
        extra: dict[str, Any] = {}
        if admission == Admission.NOMINATION:
            extra.update(_nomination_fields())
        if programme_code in PROGRAMME_QUESTIONS:
            extra.update(PROGRAMME_QUESTIONS[programme_code]())
        attrs: dict[str, Any] = dict(extra)
        attrs["answer_fields"] = base.answer_fields + tuple(extra)
        if programme_code == "tatc":
            # TATC invoices an organisation, so it must be named.
            attrs["organisation"] = StringField(
                "Organisation",
                [DataRequired("Enter the organisation that is sending you."), Length(max=200, message="Keep this to 200 characters or fewer."), plain_line],
                filters=STRIP,
            )
        _cache[key] = type(f"{base.__name__}_{programme_code or 'open'}", (base,), attrs)
    return _cache[key]

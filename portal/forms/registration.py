"""The public registration form and the manage page's form: the identity fields, which stay
fixed (name, email, organisation, consent to the privacy notice, and the bots' trap), around
the questions of the event's form (portal.forms.questions builds those from its definition).

The form checks shape only (present, long enough, a real email address, no control
characters, an answer the question offers); whether a seat or a choice's place is free is
the registration service's business.
"""

from __future__ import annotations

from wtforms import BooleanField, StringField
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.forms.fields import STRIP, email_field, plain_line
from portal.forms.questions import QuestionForm, form_type
from portal.questions.schema import FormDefinition

Fields = list[tuple[str, UnboundField]]


def _name() -> UnboundField:
    return StringField(
        "Full name",
        [DataRequired("Enter your full name."), Length(max=200, message="Keep your name under 200 characters."), plain_line],
        filters=STRIP,
        description="As it should appear on your name badge and certificate.",
    )


def _organisation(required: bool) -> UnboundField:
    if required:
        # The programme invoices an organisation (TATC), so it must be named.
        first = DataRequired("Enter the organisation that is sending you.")
    else:
        first = Optional()
    return StringField(
        "Organisation", [first, Length(max=200, message="Keep the organisation under 200 characters."), plain_line], filters=STRIP,
    )


def _consent() -> UnboundField:
    return BooleanField(
        "I agree that the portal keeps these details to run this event, as the privacy notice above describes.",
        [InputRequired("You need to agree to the privacy notice to register.")],
    )


def _registration_identity(definition: FormDefinition) -> tuple[Fields, Fields]:
    before = [("name", _name()), ("email", email_field("We send your confirmation and a private link to manage your registration here.")), ("organisation", _organisation(definition.organisation_required))]
    # A field people never see; bots fill it in. See the register handler.
    after = [("consent", _consent()), ("website", StringField("Leave this empty", [Optional()]))]
    return before, after


def _details_identity(definition: FormDefinition) -> tuple[Fields, Fields]:
    # The email address is the registration's identity: it does not change here.
    return [("name", _name()), ("organisation", _organisation(definition.organisation_required))], []


def registration_form(definition: FormDefinition, key: tuple[int, int] | None = None) -> type[QuestionForm]:
    """The public form for an event's form definition; `key` is its (form id, version)."""
    return form_type("register", definition, key, _registration_identity)


def details_form(definition: FormDefinition, key: tuple[int, int] | None = None) -> type[QuestionForm]:
    """What a participant can change on the manage page."""
    return form_type("manage", definition, key, _details_identity)

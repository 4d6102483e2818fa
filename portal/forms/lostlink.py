"""The "Lost your link?" form: one email address (checked as every public form checks one)
and the honeypot field that bots fill in."""

from __future__ import annotations

from wtforms import Form, StringField
from wtforms.validators import Optional

from portal.forms.fields import email_field


class LostLinkForm(Form):
    email = email_field("The address you registered with. We send the links of its registrations to it, and to nobody else.")
    # A field people never see; bots fill it in (as on the registration form).
    website = StringField("Leave this empty", [Optional()])

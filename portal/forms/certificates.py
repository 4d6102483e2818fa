"""The back office's certificate forms: issuing (to all who earned one, or one person),
reissuing with a corrected name, and revoking with a reason."""

from __future__ import annotations

from wtforms import Form, HiddenField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.forms.fields import STRIP, plain_line
from portal.registrations.certificates import MAX_NAME, MAX_REASON


class IssueForm(Form):
    """Without an id, everyone who earned a certificate and never had one; `confirm` is the
    number the organiser saw and confirmed. With ids, those people, at once."""

    id = SelectMultipleField(coerce=int, validate_choice=False)
    confirm = HiddenField(validators=[Optional(), Regexp(r"^\d{1,9}$", message="damaged")])

    def confirmed(self) -> int | None:
        return int(self.confirm.data) if self.confirm.data else None


class ReissueForm(Form):
    name = StringField(
        "Name on the certificate",
        [DataRequired("Write the name as it should appear."), Length(max=MAX_NAME, message=f"A name has at most {MAX_NAME} characters."), plain_line],
        filters=STRIP,
        description="The new certificate gets a new code; the old one is revoked and its page says so.",
    )


class RevokeForm(Form):
    reason = StringField(
        "Reason",
        [DataRequired("Say why it is revoked."), Length(max=MAX_REASON, message=f"A reason has at most {MAX_REASON} characters."), plain_line],
        filters=STRIP,
        description="For the organisers and the audit log: the public page says only that the certificate was revoked, and when.",
    )

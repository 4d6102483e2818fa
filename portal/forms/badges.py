"""The name badges' query string: the layout, and whose badges (a status, and the roster's search
and answer filter). A value that does not fit is a bad link: 400."""

from __future__ import annotations

from wtforms import Form, SelectField, StringField
from wtforms.validators import Length, Optional, Regexp

from portal.documents.badges import LAYOUTS
from portal.forms.fields import MAX_TEXT, STRIP, options
from portal.models import RegistrationStatus
from portal.questions.schema import KEY_PATTERN
from portal.rosters.badges import BadgeSelection

LAYOUT_LABELS = {"a4": "A4 sheets, eight badges a sheet with cutting marks", "single": "Badge printer, one 4 × 3 inch badge a page"}
STATUS_LABELS = {
    "confirmed": "Confirmed", "waitlisted": "Waiting list", "pending": "Pending", "cancelled": "Cancelled", "rejected": "Rejected",
    "": "Every status",
}


class BadgesForm(Form):
    layout = SelectField(choices=options([(k, LAYOUT_LABELS[k]) for k in LAYOUTS]), default="a4")
    status = SelectField(
        choices=options([(s.value, STATUS_LABELS.get(s.value, s.value)) for s in RegistrationStatus] + [("", STATUS_LABELS[""])]),
        default=RegistrationStatus.CONFIRMED.value,
    )
    q = StringField(validators=[Optional()], filters=[*STRIP, lambda s: s[:MAX_TEXT] if isinstance(s, str) else s], default="")
    question = StringField(validators=[Optional(), Length(max=40), Regexp(KEY_PATTERN, message="not a question")], default="")
    answer = StringField(validators=[Optional(), Length(max=100)], default="")

    def selection(self) -> BadgeSelection:
        return BadgeSelection(
            status=RegistrationStatus(self.status.data) if self.status.data else None,
            q=self.q.data or "",
            question=self.question.data or "",
            answer=(self.answer.data or "") if self.question.data else "",
        )

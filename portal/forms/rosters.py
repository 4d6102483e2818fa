"""The roster's query string and the action buttons of the roster, a registration and the
door. A value that does not fit is a bad link or button (400), not a form to correct."""

from __future__ import annotations

from wtforms import Form, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, Regexp

from portal.forms.fields import MAX_TEXT, STRIP, options, plain_text
from portal.models import RegistrationStatus
from portal.questions.schema import KEY_PATTERN
from portal.registrations.actions import RosterAction
from portal.rosters.roster import SORTS

_STATUS_CHOICES = options([("", "Every status")] + [(s.value, s.value) for s in RegistrationStatus])
NOTE_LENGTH = 1000
_CURSOR = [Optional(), Length(max=600), Regexp(r"^[A-Za-z0-9_-]+$", message="damaged")]


class RosterQueryForm(Form):
    """The roster's query string. A value that does not fit is a bad link: 400."""

    status = SelectField(choices=_STATUS_CHOICES, default="")
    # Cut to 200 characters, as the other back-office searches are: a long paste is a search,
    # not a bad link.
    q = StringField(validators=[Optional()], filters=[*STRIP, lambda s: s[:MAX_TEXT] if isinstance(s, str) else s], default="")
    sort = SelectField(choices=options([(k, k) for k in SORTS]), default="registered")
    dir = SelectField(choices=options([("asc", "asc"), ("desc", "desc")]), default="asc")
    after = StringField(validators=_CURSOR)
    before = StringField(validators=_CURSOR)
    last = SelectField(choices=options([("", ""), ("1", "1")]), default="")
    # Only those who gave this answer to this choice question (the roster's answer filter).
    question = StringField(validators=[Optional(), Length(max=40), Regexp(KEY_PATTERN, message="not a question")], default="")
    answer = StringField(validators=[Optional(), Length(max=100)], default="")

    def page_params(self) -> dict[str, str]:
        """Which page of the roster is shown (its cursor), for the bulk actions to come back to."""
        params = {"after": self.after.data or "", "before": self.before.data or "", "last": self.last.data or ""}
        return {k: v for k, v in params.items() if v}

    def link_params(self) -> dict[str, str]:
        """The filter and sort, for links and redirects that keep them (not the page)."""
        params = {
            "status": self.status.data or "", "q": self.q.data or "", "question": self.question.data or "",
            "answer": (self.answer.data or "") if self.question.data else "", "sort": self.sort.data, "dir": self.dir.data,
        }
        return {k: v for k, v in params.items() if v and not (k == "sort" and v == "registered") and not (k == "dir" and v == "asc")}


def _note_field() -> TextAreaField:
    """Put into each email an action sends, under "A note from the organisers"; plain text."""
    return TextAreaField(
        "A note for the email",
        description=f"Plain text, up to {NOTE_LENGTH:,} characters. It is put in each email under \u201cA note from the organisers\u201d, and kept in the event's audit log.",
        validators=[Optional(), Length(max=NOTE_LENGTH, message=f"Keep the note under {NOTE_LENGTH:,} characters."), plain_text],
        filters=STRIP, default="",
    )


class BulkActionForm(RosterQueryForm):
    action = SelectField(choices=options([(a.value, a.value) for a in RosterAction]), validators=[InputRequired()])
    id = SelectMultipleField(coerce=int, validate_choice=False)
    # "yes" once the organiser has seen whom the action would email (admin/confirm_action.html).
    confirmed = StringField(validators=[Optional(), Length(max=3)], default="")
    # One value per confirmation page: sent twice (a double click), it acts once.
    nonce = StringField(validators=[Optional(), Length(max=64), Regexp(r"^[A-Za-z0-9_-]+$", message="damaged")], default="")
    note = _note_field()


class RegistrationActionForm(Form):
    action = SelectField(choices=options([(a.value, a.value) for a in RosterAction]), validators=[InputRequired()])
    confirmed = StringField(validators=[Optional(), Length(max=3)], default="")
    note = _note_field()


class CheckInActionForm(Form):
    action = SelectField(choices=options([(RosterAction.CHECK_IN.value, ""), (RosterAction.UNDO_CHECK_IN.value, "")]))
    q = StringField(validators=[Optional(), Length(max=200)], filters=STRIP, default="")

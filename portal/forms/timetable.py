"""The back office's timetable forms: a session (times typed in the event's zone), a speaker,
and the buttons of a session's roster. They check shape only; catalogue.timetable_admin and
catalogue.speaker_admin apply the rules (within the event, speakers that exist)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from wtforms import BooleanField, FileField, Form, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, ValidationError

from portal.forms.events import aware, existing_local_time, local_time_field
from portal.forms.fields import MAX_TEXT, STRIP, lowered, options, plain_line, plain_text
from portal.models import SessionKind
from portal.text import SLUG_PATTERN

KIND_LABELS = {
    SessionKind.KEYNOTE: "Keynote", SessionKind.PANEL: "Panel", SessionKind.WORKSHOP: "Workshop",
    SessionKind.TALK: "Talk", SessionKind.BREAK: "Break", SessionKind.MEAL: "Meal",
}
# Speakers' keys as typed: one per line, or separated by commas.
_KEY_SEPARATORS = re.compile(r"[\r\n,;]+")
MAX_SPEAKERS = 50


def _key_field(description: str) -> StringField:
    return StringField(
        "Key", [InputRequired("Choose a key: lowercase words joined by hyphens."), Length(max=120),
                Regexp(SLUG_PATTERN, message="Use lowercase letters, digits and single hyphens, e.g. opening-keynote.")],
        filters=[lowered], description=description,
    )


class SessionForm(Form):
    """A session's fields. `zone` (the event's) is set by the handler: the times are typed in it."""

    zone: ZoneInfo = ZoneInfo("UTC")

    title = StringField("Title", [DataRequired("Give the session a title."), Length(max=500), plain_line], filters=STRIP)
    kind = SelectField(
        "Kind", [InputRequired("Choose the kind of session.")], choices=options([(k.value, label) for k, label in KIND_LABELS.items()]),
        default=SessionKind.TALK.value,
        description="Breaks and meals are quiet rows in the timetable, never chosen.",
    )
    starts_at = local_time_field("Starts", True, missing="Enter when the session starts: a date and a time.")
    ends_at = local_time_field("Ends", True, missing="Enter when the session ends: a date and a time.")
    room = StringField("Room", [Optional(), Length(max=200), plain_line], filters=STRIP)
    track = StringField("Track", [Optional(), Length(max=200), plain_line], filters=STRIP)
    speakers = TextAreaField(
        "Speakers", [Optional(), Length(max=10_000), plain_text], filters=STRIP,
        description="Their keys, one per line, in the order the timetable names them (e.g. tan-ah-kow). "
        "Find a key on the Speakers page.",
    )
    description = TextAreaField(
        "Description", [Optional(), Length(max=20_000), plain_text],
        description="Markdown: **bold**, *italic*, [links](https://…), lists.",
    )
    choose = BooleanField("Participants choose to attend it (when registering, and on their manage page)")
    places = IntegerField(
        "Places", [Optional(), NumberRange(0, 100_000, "Enter a whole number from 0 to 100,000.")],
        invalid_value_message="Enter a whole number of places, or leave it empty for no limit.",
        description="For a session participants choose. Empty: no limit.",
    )
    waitlist = BooleanField("When it is full, further choosers wait for a place, in order")
    check_in = BooleanField("Check people in at its door (its roster gets a check-in button)")

    def _check_time(self, field: Any) -> None:
        """The years are checked by the field (forms.events.local_time_field); here, a time the
        event's zone skips."""
        value = field.data
        if value is not None and not existing_local_time(value, self.zone):
            raise ValidationError(f"{value:%-d %b %Y, %H:%M} does not exist in {self.zone.key}: the clocks go forward then. Choose another time.")

    def validate_starts_at(self, field: Any) -> None:
        self._check_time(field)

    def validate_ends_at(self, field: Any) -> None:
        self._check_time(field)
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError("The session must end after it starts.")

    def validate_speakers(self, field: Any) -> None:
        keys = self.speaker_keys()
        bad = [k for k in keys if not re.fullmatch(SLUG_PATTERN, k)]
        if bad:
            raise ValidationError(
                f"“{bad[0]}” is not a speaker's key: a key is lowercase letters, digits and hyphens "
                "(e.g. tan-ah-kow), one per line. Search the Speakers page by name to find it."
            )
        if len(keys) > MAX_SPEAKERS:
            raise ValidationError(f"A session has at most {MAX_SPEAKERS} speakers.")

    def speaker_keys(self) -> list[str]:
        return [k.strip().lower() for k in _KEY_SEPARATORS.split(self.speakers.data or "") if k.strip()]

    def values(self) -> dict[str, Any]:
        """The session's values for the service, times aware in the event's zone."""
        tz = self.zone.key
        return {
            "title": self.title.data or "",
            "kind": SessionKind(self.kind.data),
            "starts_at": aware(self.starts_at.data, tz),
            "ends_at": aware(self.ends_at.data, tz),
            "room": self.room.data or "",
            "track": self.track.data or None,
            "description": (self.description.data or "").replace("\r\n", "\n"),
            "speakers": self.speaker_keys(),
            "choose": bool(self.choose.data),
            "places": self.places.data,
            "waitlist": bool(self.waitlist.data),
            "check_in": bool(self.check_in.data),
        }

    @classmethod
    def editing(cls, data: dict[str, Any], zone: ZoneInfo) -> SessionForm:
        """The form filled from a session's values (timetable_admin.form_data)."""
        local = {k: (v.astimezone(zone).replace(tzinfo=None) if isinstance(v, datetime) else v) for k, v in data.items()}
        form = cls(data=local)
        form.zone = zone
        return form


class NewSessionForm(SessionForm):
    key = _key_field("Part of the session's address under the event. It cannot change later.")

    def values(self) -> dict[str, Any]:
        return {"key": self.key.data or "", **super().values()}


class SpeakerForm(Form):
    name = StringField("Name", [DataRequired("Give the speaker's name."), Length(max=200), plain_line], filters=STRIP,
                       description="As the timetable shows it, e.g. Dr Tan Ah Kow.")
    affiliation = StringField("Affiliation", [Optional(), Length(max=300), plain_line], filters=STRIP)
    title = StringField("Position", [Optional(), Length(max=300), plain_line], filters=STRIP,
                        description="Their role, e.g. Professor of Sociology.")
    bio = TextAreaField("Short biography", [Optional(), Length(max=20_000), plain_text],
                        description="Markdown: **bold**, *italic*, [links](https://…).")
    # Read by the handler (photos.prepare): here for its label, help and errors.
    photo = FileField(
        "Photo", render_kw={"accept": "image/jpeg,image/png,image/webp,image/gif"}, description="A JPEG, PNG, WebP or GIF of at most 10 MB. It is made at most 400 × 400 pixels and kept "
        "as a JPEG without its metadata (camera, place, time). A new photo replaces the old one.",
    )
    remove_photo = BooleanField("Remove the photo")

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name.data or "", "affiliation": self.affiliation.data or "", "title": self.title.data or "",
            "bio": (self.bio.data or "").replace("\r\n", "\n"),
        }


class NewSpeakerForm(SpeakerForm):
    key = _key_field("The speaker's page is /speakers/<key>; the import names them by it. It cannot change later.")

    def values(self) -> dict[str, Any]:
        return {"key": self.key.data or "", **super().values()}


class SessionCheckInForm(Form):
    """A check-in button on a session's roster. Anything else is a damaged button: 400."""

    action = SelectField(choices=options([("check_in", ""), ("undo", "")]))
    registration = IntegerField(validators=[InputRequired()])
    q = StringField(validators=[Optional()], filters=[*STRIP, lambda s: s[:MAX_TEXT] if isinstance(s, str) else s], default="")
    page = IntegerField(validators=[Optional(), NumberRange(1, 100_000)], default=None)

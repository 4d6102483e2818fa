"""The back office's event and programme forms. They check shape only; the services apply
the rules. Times are typed in the event's zone (naive here, made aware by `aware`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    Form,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp, StopValidation, ValidationError

from portal.catalogue.editing import EventValues, Keep
from portal.catalogue.programmes import ProgrammeValues
from portal.catalogue.records import known_zone
from portal.catalogue.reminders import parse_reminders_text
from portal.forms.fields import STRIP, lowered, options, plain_line, plain_text
from portal.models import Admission
from portal.registrations.attendance import number_of_days, share_percent
from portal.registrations.retention import checked_period
from portal.text import SLUG_PATTERN

# datetime-local sends 2027-03-08T09:00; an old browser shows a text box, where people type
# the same with a space.
TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def _reminder_choices(default_words: str) -> list[tuple[str, str]]:
    """The reminders' three choices, the site's default named in words when known."""
    default = f"Use the site's default ({default_words})" if default_words else "Use the site's default"
    return [("default", default), ("none", "No reminders"), ("own", "These reminders:")]


def _needed_with(choice: str, message: str) -> Any:
    """A box that must be filled when its certificate choice is chosen (before Optional(),
    which would otherwise end the checks on an empty box)."""

    def check(form: Any, field: Any) -> None:
        if form.certificate_choice.data == choice and not (field.raw_data and str(field.raw_data[0]).strip()):
            field.errors[:] = []
            raise StopValidation(message)

    return check


CERTIFICATE_CHOICES = [
    ("all", "Every day of the event (the default)"),
    ("days", "At least a number of days"),
    ("share", "At least a share of the days"),
]


# Times outside these years are typing slips (0027 for 2027), and year 1 cannot even be moved
# to UTC from a zone east of it.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _sensible_year(form: Any, field: Any) -> None:
    if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(f"Enter a date between {FIRST_YEAR} and {LAST_YEAR}.")


def local_time_field(label: str, required: bool, description: str = "", missing: str = "") -> DateTimeLocalField:
    checks = [InputRequired(missing or f"Enter when {label.lower()}: a date and a time.")] if required else [Optional()]
    return DateTimeLocalField(
        label, [*checks, _sensible_year], format=TIME_FORMATS, description=description,
        invalid_value_message="Enter a date and a time, such as 2027-03-08 09:00.",
    )


def aware(value: datetime | None, tz: str) -> datetime | None:
    """A naive local time from the form, in the event's zone."""
    return value.replace(tzinfo=ZoneInfo(tz)) if value is not None else None


def local(value: datetime | None, tz: str) -> datetime | None:
    """An aware time as the form shows it: naive, in the event's zone."""
    return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None) if value is not None else None


def existing_local_time(value: datetime, zone: ZoneInfo) -> bool:
    """False for a wall-clock time the zone skips (the hour the clocks go forward)."""
    there = value.replace(tzinfo=zone)
    return there.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == value


class EventForm(Form):
    # DataRequired, not InputRequired: it looks after STRIP, so a title of spaces is refused.
    title = StringField("Title", [DataRequired("Give the event a title."), Length(max=500), plain_line], filters=STRIP)
    programme = SelectField("Programme", choices=options([("", "None: a standalone event")]), validate_choice=True)
    category = StringField(
        "Category",
        [InputRequired("Enter a category, e.g. seminar."), Length(max=40),
         Regexp(SLUG_PATTERN, message="Use lowercase words joined by hyphens, e.g. book-launch.")],
        filters=[lowered], default="seminar",
        description="Lowercase words joined by hyphens: seminar, webinar, conference, course, book-launch…",
    )
    timezone = StringField(
        "Time zone", [InputRequired("Enter the event's time zone."), Length(max=64)], filters=STRIP,
        default="Asia/Singapore", description="The times below are in this zone, e.g. Asia/Singapore or Europe/London.",
    )
    starts_at = local_time_field("Starts", True, missing="Enter when the event starts: a date and a time.")
    ends_at = local_time_field("Ends", True, missing="Enter when the event ends: a date and a time.")
    all_day = BooleanField("All-day event (times are ignored in calendars)")
    venue = StringField("Venue", [Optional(), Length(max=300), plain_line], filters=STRIP)
    address = StringField("Address", [Optional(), Length(max=500), plain_line], filters=STRIP)
    online_url = StringField(
        "Online link", [Optional(), Length(max=500), plain_line,
                        Regexp(r"^https?://\S+$", message="Enter a full link starting with https://.")],
        filters=STRIP, description="Shown to confirmed participants only.",
    )
    capacity = IntegerField(
        "Capacity", [Optional(), NumberRange(0, 1_000_000, "Enter a whole number from 0 to 1,000,000.")],
        invalid_value_message="Enter a whole number of seats, or leave it empty for no limit.",
        description="Seats. Leave empty for no limit. Raising it gives the new seats to the waiting list, in order.",
    )
    waitlist = BooleanField("Offer a waiting list on the public form when the event is full", default=True)
    registration_opens_at = local_time_field("Registration opens", False, "Empty: open as soon as the event is published.")
    registration_closes_at = local_time_field("Registration closes", False, "Empty: open until the event starts.")
    description = TextAreaField(
        "Description", [Optional(), Length(max=50_000), plain_text],
        description="Markdown: **bold**, *italic*, [links](https://…), lists, ## headings.",
    )
    speakers = TextAreaField("Speakers", [Optional(), Length(max=15_000), plain_text], description="One per line.")
    # No default: a form sent without it (an older page) leaves the event's reminders alone.
    reminders_choice = RadioField("Reminders", choices=options(_reminder_choices("")), validate_choice=False)
    reminders = StringField(
        # No Optional(): it would end the checks on an empty box before validate_reminders,
        # which refuses "These reminders:" with nothing typed.
        "Reminders before the start", [Length(max=200), plain_line], filters=STRIP,
        description="With \u201cThese reminders\u201d: separated by commas, each as an ISO 8601 duration or in words: P2D or 2 days, PT2H or 2 hours, "
        "P1DT12H or 1 day 12 hours, P1W or 1 week. At most 5, each at most 90 days.",
    )

    # No default either: a form without it keeps the event's certificate rule.
    certificate_choice = RadioField(
        "Certificate of attendance: who earns one", choices=options(CERTIFICATE_CHOICES), validate_choice=False,
    )
    certificate_days = IntegerField(
        "Days needed", [_needed_with("days", "You chose \u201cAt least a number of days\u201d: enter how many."), Optional()],
        invalid_value_message="Enter a whole number of days.",
        description="With \u201cAt least a number of days\u201d: from 1 to the number of days the event has.",
    )
    certificate_share = DecimalField(
        "Share of the days, in per cent",
        [_needed_with("share", "You chose \u201cAt least a share of the days\u201d: enter the share in per cent."), Optional()],
        places=None, invalid_value_message="Enter a number from 1 to 100.",
        description="With \u201cAt least a share of the days\u201d: from 1 to 100, rounded up to whole days (80% of 5 days is 4).",
    )

    def use_default_reminders(self, words: str) -> EventForm:
        """Name the site's default (in words) beside its choice."""
        self.reminders_choice.choices = options(_reminder_choices(words))
        return self

    def validate_reminders_choice(self, field: Any) -> None:
        if field.data not in (None, "", "default", "none", "own"):
            raise ValidationError("Choose the site's default reminders, no reminders, or your own.")

    def validate_reminders(self, field: Any) -> None:
        typed, choice = (field.data or "").strip(), self.reminders_choice.data
        if typed and choice in ("default", "none"):
            chosen = "Use the site\u2019s default" if choice == "default" else "No reminders"
            instead = "for the site\u2019s default" if choice == "default" else "for none"
            raise ValidationError(
                f"You chose \u201c{chosen}\u201d and also typed reminders: to send these, choose "
                f"\u201cThese reminders:\u201d; {instead}, empty the box."
            )
        if choice == "own":
            if not typed:
                raise ValidationError(
                    "You chose \u201cThese reminders:\u201d but typed none: type them (e.g. 2 days, 2 hours), "
                    "or choose \u201cNo reminders\u201d to send none."
                )
            try:
                parse_reminders_text(typed)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None

    def validate_certificate_choice(self, field: Any) -> None:
        if field.data not in (None, "", *(value for value, _ in CERTIFICATE_CHOICES)):
            raise ValidationError("Choose every day, a number of days, or a share of the days.")

    def _days(self) -> int | None:
        """How many days the event has as typed, or None while its times or zone are wrong."""
        starts, ends = self.starts_at.data, self.ends_at.data
        if self.zone() is None or starts is None or ends is None or ends <= starts:
            return None
        if not (FIRST_YEAR <= starts.year <= LAST_YEAR and FIRST_YEAR <= ends.year <= LAST_YEAR):
            return None
        tz = self.timezone.data or ""
        return number_of_days(aware(starts, tz), aware(ends, tz), tz)  # type: ignore[arg-type]

    def validate_certificate_days(self, field: Any) -> None:
        if self.certificate_choice.data != "days" or field.data is None:
            return
        days = self._days()
        if field.data < 1 or (days is not None and field.data > days):
            most = f"{days}, the number of days the event has" if days is not None else "the number of days the event has"
            raise ValidationError(f"Enter a number of days from 1 to {most}.")

    def validate_certificate_share(self, field: Any) -> None:
        if self.certificate_choice.data != "share" or field.data is None:
            return
        if not field.data.is_finite() or not 1 <= field.data <= 100:
            raise ValidationError("Enter a share from 1 to 100 per cent.")
        if field.data != field.data.quantize(Decimal("0.01")):
            raise ValidationError("Enter the share with at most two decimals, e.g. 66.67.")

    def zone(self) -> ZoneInfo | None:
        """The zone typed, or None when it is not one (validate_timezone says why)."""
        return known_zone(self.timezone.data or "")

    def validate_timezone(self, field: Any) -> None:
        if self.zone() is None:
            raise ValidationError("This is not a time zone name; write it like Asia/Singapore.")

    def _check_exists(self, field: Any) -> None:
        zone = self.zone()
        if field.data is None or zone is None or not FIRST_YEAR <= field.data.year <= LAST_YEAR:
            return  # _sensible_year or validate_timezone says what is wrong
        if not existing_local_time(field.data, zone):
            raise ValidationError(
                f"{field.data:%-d %b %Y, %H:%M} does not exist in {zone.key}: the clocks go forward then. Choose another time."
            )

    def validate_starts_at(self, field: Any) -> None:
        self._check_exists(field)

    def validate_ends_at(self, field: Any) -> None:
        self._check_exists(field)
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError("The event must end after it starts.")

    def validate_registration_opens_at(self, field: Any) -> None:
        self._check_exists(field)
        if field.data and self.starts_at.data and field.data >= self.starts_at.data:
            raise ValidationError("Registration must open before the event starts.")

    def validate_registration_closes_at(self, field: Any) -> None:
        self._check_exists(field)
        opens = self.registration_opens_at.data
        if field.data and opens and field.data <= opens:
            raise ValidationError("Registration must close after it opens.")
        if field.data and self.starts_at.data and field.data > self.starts_at.data:
            raise ValidationError("Registration closes when the event starts at the latest: leave this empty for that.")

    def values(self) -> EventValues:
        tz = self.timezone.data
        starts_at, ends_at = aware(self.starts_at.data, tz), aware(self.ends_at.data, tz)
        assert starts_at and ends_at
        return EventValues(
            title=self.title.data or "",
            starts_at=starts_at,
            ends_at=ends_at,
            timezone=tz,
            programme_code=self.programme.data or None,
            category=self.category.data or "seminar",
            all_day=bool(self.all_day.data),
            venue=self.venue.data or "",
            address=self.address.data or "",
            online_url=self.online_url.data or None,
            capacity=self.capacity.data,
            waitlist=bool(self.waitlist.data),
            registration_opens_at=aware(self.registration_opens_at.data, tz),
            registration_closes_at=aware(self.registration_closes_at.data, tz),
            description=(self.description.data or "").replace("\r\n", "\n"),
            speakers=[line.strip() for line in (self.speakers.data or "").splitlines() if line.strip()],
            reminders=self._reminders(),
            certificate_rule=self._certificate_rule(),
        )

    def _certificate_rule(self) -> dict[str, Any] | None | Keep:
        choice = self.certificate_choice.data
        if choice == "all":
            return None
        if choice == "days" and self.certificate_days.data is not None:
            return {"days": self.certificate_days.data}
        if choice == "share" and self.certificate_share.data is not None:
            return {"share": float(self.certificate_share.data / 100)}
        return Keep.KEEP

    def _reminders(self) -> list[str] | None | Keep:
        if self.reminders_choice.data == "default":
            return None
        if self.reminders_choice.data == "none":
            return []
        if self.reminders_choice.data == "own":
            return parse_reminders_text(self.reminders.data or "")
        return Keep.KEEP

    @staticmethod
    def data_of(event: Any, programme_code: str | None) -> dict[str, Any]:
        """An event as the form shows it, times in its own zone."""
        tz = event.timezone
        return {
            "title": event.title, "programme": programme_code or "", "category": event.category, "timezone": tz,
            "starts_at": local(event.starts_at, tz), "ends_at": local(event.ends_at, tz), "all_day": event.all_day,
            "venue": event.venue, "address": event.address, "online_url": event.online_url or "",
            "capacity": event.capacity, "waitlist": event.waitlist,
            "registration_opens_at": local(event.registration_opens_at, tz),
            "registration_closes_at": local(event.registration_closes_at, tz),
            "description": event.description, "speakers": "\n".join(event.speakers or []),
            "reminders_choice": "default" if event.reminders is None else "own" if event.reminders else "none",
            "reminders": ", ".join(event.reminders or []),
            **_certificate_data(event.certificate_rule),
        }


def _certificate_data(rule: dict[str, Any] | None) -> dict[str, Any]:
    """An event's certificate rule as the form's three fields show it."""
    rule = rule or {}
    if "days" in rule:
        return {"certificate_choice": "days", "certificate_days": rule["days"]}
    if "share" in rule:
        return {"certificate_choice": "share", "certificate_share": Decimal(share_percent(float(rule["share"])))}
    return {"certificate_choice": "all"}


_SLUG_CHECKS = [Length(max=120), Regexp(SLUG_PATTERN, message="Use lowercase letters, digits and single hyphens, e.g. tatc-2027-03.")]


class NewEventForm(EventForm):
    slug = StringField(
        "URL slug", [Optional(), *_SLUG_CHECKS], filters=[*STRIP, lowered],
        description="The end of the event's web address, /events/tatc-2027-03. Leave it empty to make it from the title. "
        "It cannot change later.",
    )


class DuplicateForm(Form):
    slug = StringField(
        "URL slug", [InputRequired("Choose the end of the new event's web address."), *_SLUG_CHECKS], filters=[lowered],
        description="The end of the new event's web address, /events/tatc-2027-03. It cannot change later.",
    )
    title = EventForm.title
    starts_at = local_time_field("Starts", True, "In the event's own time zone. Every other time moves by the same amount.")


class ProgrammeForm(Form):
    name = StringField("Name", [DataRequired("Give the programme a name."), Length(max=200), plain_line], filters=STRIP)
    admission = SelectField(
        "Admission",
        choices=options([(Admission.OPEN.value, "Open: first come, first served"),
                         (Admission.APPLICATION.value, "Application: organisers approve"),
                         (Admission.NOMINATION.value, "Nomination: a nominating authority, organisers approve")]),
    )
    summary = StringField("Summary", [Optional(), Length(max=500), plain_line], filters=STRIP, description="One line for listings.")
    description = TextAreaField("Description", [Optional(), Length(max=20_000), plain_text], description="Markdown.")
    retention = StringField(
        "Keep registrations for", [Optional(), Length(max=20)], filters=STRIP,
        description="After each run ends, as an ISO 8601 period: P24M (24 months), P2Y (two years), P90D (90 days). "
        "Then names, emails, organisations, answers and uploads are removed. Empty: the site's default.",
    )

    def validate_retention(self, field: StringField) -> None:
        if field.data:
            try:
                field.data = checked_period(field.data)
            except ValueError as exc:
                raise ValidationError(str(exc)) from None

    def values(self) -> ProgrammeValues:
        return ProgrammeValues(
            name=self.name.data or "", admission=Admission(self.admission.data),
            summary=self.summary.data or "", description=(self.description.data or "").replace("\r\n", "\n"),
            retention=self.retention.data or None,
        )


class NewProgrammeForm(ProgrammeForm):
    code = StringField(
        "Code", [InputRequired("Choose a short code."), Length(max=40),
                 Regexp(SLUG_PATTERN, message="Use lowercase letters, digits and single hyphens, e.g. tatc.")],
        filters=[lowered], description="Used in web addresses and feeds: /programmes/tatc. It cannot change later.",
    )



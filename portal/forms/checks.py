"""The checks a question's answer must pass, by type, and how an answer is kept and shown:
lengths, numbers, dates, phone numbers (E.164, with `phonenumbers`), countries (names from
`pycountry`), choices and their places, multiple-choice picks, files (type read from the
content). Messages say what to do, on the question they belong to."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import phonenumbers
import pycountry
from wtforms.validators import ValidationError

from portal.questions.schema import DEFAULT_MAX_BYTES, UPLOAD_TYPES, Question
from portal.registrations import uploads

EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg,.jpeg",
    "image/png": ".png",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
}
# Numbers people type are short; anything longer is not a number the form asked for.
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_BIGGEST = Decimal(10) ** 15
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def empty(value: Any) -> bool:
    """No answer: nothing typed, nothing picked, a box not ticked (0 is an answer)."""
    return value is None or value is False or value == "" or value == []


def _count(n: float) -> str:
    return f"{n:,}"


def length(low: int | None, high: int | None) -> Any:
    if low and high:
        message = f"Write between {_count(low)} and {_count(high)} characters."
    elif low:
        message = f"Write at least {_count(low)} characters."
    else:
        message = f"Keep this to {_count(high or 0)} characters or fewer."

    def check(form: Any, field: Any) -> None:
        size = len(field.data or "")
        if (low and size < low) or (high and size > high):
            raise ValidationError(message)

    return check


# --- phone numbers ------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _phone_message(region: str) -> str:
    country = pycountry.countries.get(alpha_2=region)
    example = phonenumbers.format_number(phonenumbers.example_number(region), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    where = f"a {country.name} number" if country is not None else "a local number"
    return f"Enter a phone number we can call: + and the country code first unless it is {where} (like {example})."


def _parse_phone(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    if len(value) > 40:
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def readable_phone(value: str) -> str:
    """A kept (E.164) number as people read it: "+6567906982" is "+65 6790 6982"."""
    if len(value) > 40:
        return value
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone(form: Any, field: Any) -> None:
    if _parse_phone(field.data or "", form.phone_region) is None:
        raise ValidationError(_phone_message(form.phone_region))


# --- numbers and dates --------------------------------------------------------------------


def _decimal(raw: str) -> Decimal | None:
    if not _NUMBER.match(raw or ""):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        return None
    return value if abs(value) < _BIGGEST else None


def _shown_number(value: float | str | None) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, (int, float)) else str(value)


def number(question: Question) -> Any:
    low, high = question.min, question.max
    if low is not None and high is not None:
        bounds = f"from {_shown_number(low)} to {_shown_number(high)}"
    elif low is not None:
        bounds = f"of {_shown_number(low)} or more"
    elif high is not None:
        bounds = f"of {_shown_number(high)} or less"
    else:
        bounds = ""
    kind = "a number" if question.decimal else "a whole number"

    def check(form: Any, field: Any) -> None:
        value = _decimal(field.data)
        if value is None or (not question.decimal and value != value.to_integral_value()):
            example = "like 12 or 12.5" if question.decimal else "like 12"
            raise ValidationError(f"Enter {kind}{' ' + bounds if bounds else ''}, in figures ({example}).")
        if (low is not None and value < Decimal(str(low))) or (high is not None and value > Decimal(str(high))):
            raise ValidationError(f"Enter {kind} {bounds}.")

    return check


def _shown_date(value: str) -> str:
    return date.fromisoformat(value).strftime("%-d %B %Y")


def a_date(question: Question) -> Any:
    low, high = question.min, question.max

    def check(form: Any, field: Any) -> None:
        raw = field.data or ""
        try:
            value = date.fromisoformat(raw) if _ISO_DATE.match(raw) else None
        except ValueError:
            value = None
        if value is None:
            raise ValidationError("Enter a date as year-month-day, like 2027-03-08.")
        if low is not None and value < date.fromisoformat(str(low)):
            raise ValidationError(f"Enter a date on or after {_shown_date(str(low))}.")
        if high is not None and value > date.fromisoformat(str(high)):
            raise ValidationError(f"Enter a date on or before {_shown_date(str(high))}.")

    return check


# --- countries and choices ----------------------------------------------------------------


def _sort_key(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()


@lru_cache(maxsize=1)
def country_names() -> tuple[str, ...]:
    """Every ISO 3166 country, by the name people use (pycountry's common name if it has
    one: Vietnam, South Korea), in alphabetical order. The answer kept is this name."""
    names = {getattr(c, "common_name", None) or c.name for c in pycountry.countries}
    return tuple(sorted(names, key=_sort_key))


@lru_cache(maxsize=1)
def _country_set() -> frozenset[str]:
    return frozenset(country_names())


def country(form: Any, field: Any) -> None:
    if field.data not in _country_set():
        raise ValidationError("Choose a country from the list.")


def choice(question: Question) -> Any:
    values = {c.value: c.label for c in question.options()}

    def check(form: Any, field: Any) -> None:
        if field.data not in values:
            raise ValidationError("Choose one of the answers given.")
        if form.is_full(question, field.data):
            raise ValidationError(f"{values[field.data]} is full; choose another.")

    return check


def _pick_bounds(question: Question) -> tuple[int, int | None]:
    """The picks an answer that picks anything must have: (at least, at most). An optional
    question takes no pick at all besides (see pick_rule)."""
    return max(question.min_choices or 1, 1), question.max_choices


def _pick_range(question: Question) -> str:
    low, high = _pick_bounds(question)
    if not question.required and low == 1:
        return f"up to {high}" if high is not None else ""
    if high is None:
        return f"at least {low}" if low > 1 else ""
    if low == high:
        return f"exactly {low}"
    return f"{low} or {high}" if high == low + 1 else f"{low} to {high}"


def pick_rule(question: Question) -> str:
    """How many a multiple choice takes, in words, shown with its help ("Pick 2 or 3.");
    "" when nothing needs saying. An optional question with a minimum takes none or the
    minimum: "Optional; if you pick any, pick at least 2." """
    said = _pick_range(question)
    if not said:
        return ""
    if not question.required and _pick_bounds(question)[0] > 1:
        return f"Optional; if you pick any, pick {said}."
    return f"Pick {said}."


def picks(question: Question) -> Any:
    """The picks of a multiple choice (an empty answer is the required/optional check's)."""
    values = {c.value: c.label for c in question.choices}
    low, high = _pick_bounds(question)
    said = _pick_range(question)
    message = f"Pick {said}." if question.required or low == 1 else f"Pick {said}, or none."

    def check(form: Any, field: Any) -> None:
        chosen = field.data or []
        if any(v not in values for v in chosen):
            raise ValidationError("Choose among the answers given.")
        if len(chosen) < low or (high is not None and len(chosen) > high):
            raise ValidationError(message)
        full = [values[v] for v in chosen if form.is_full(question, v)]
        if full:
            raise ValidationError(f"{' and '.join(full)} {'is' if len(full) == 1 else 'are'} full; choose another.")

    return check


# --- files --------------------------------------------------------------------------------


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:g} MB" if size >= 1_000_000 else f"{max(size // 1000, 1)} kB"


def _type_names(question: Question) -> str:
    return " or ".join(UPLOAD_TYPES[t] for t in question.accept if t in UPLOAD_TYPES)


def file_rule(question: Question) -> str:
    """What a file question takes, in words, shown with its help ("PDF, at most 5 MB.")."""
    return f"{_type_names(question)}, at most {megabytes(question.max_bytes or DEFAULT_MAX_BYTES)}."


def rule(question: Question) -> str:
    """The hint the form adds to a question's help from its settings, or ""."""
    if question.type == "multichoice":
        return pick_rule(question)
    if question.type == "file":
        return file_rule(question)
    return ""


def upload(question: Question) -> Any:
    limit = question.max_bytes or DEFAULT_MAX_BYTES
    names = _type_names(question)

    def check(form: Any, field: Any) -> None:
        sent = field.data
        if sent is None:
            return
        if not sent.content:
            raise ValidationError("This file is empty: choose another.")
        if len(sent.content) > limit:
            raise ValidationError(f"This file is larger than {megabytes(limit)}: choose a smaller one.")
        found = uploads.sniff(sent.content, question.accept)
        if found is None:
            raise ValidationError(f"This file is not a {names} (judged by what it holds, not its name): choose a {names}.")
        field.content_type = found

    return check


# --- answers as they are kept and shown ---------------------------------------------------


def stored_value(question: Question, data: Any, region: str) -> Any:
    """An answer as Registration.answers keeps it: text stripped; a phone number in E.164;
    a number as an int (or a float, for a decimal question); a date as YYYY-MM-DD; a country
    by name; a choice or yes/no by its value; a multiple choice as a list of values in the
    form's order; a ticked box as true. None for no answer."""
    kind = question.type
    if empty(data):
        return None
    if kind == "phone":
        parsed = _parse_phone(data, region)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if parsed else None
    if kind == "number":
        value = _decimal(str(data))
        if value is None:
            return None
        return float(value) if question.decimal and value != value.to_integral_value() else int(value)
    if kind == "multichoice":
        order = [c.value for c in question.choices]
        return [v for v in order if v in data]
    if kind == "checkbox":
        return True
    return data


def words(question: Question, value: Any) -> str:
    """A kept answer as the participant reads it (the manage page's fixed answers)."""
    if empty(value):
        return ""
    if question.type in ("choice", "yesno"):
        return question.choice_label(str(value))
    if question.type == "multichoice":
        return "; ".join(question.choice_label(str(v)) for v in (value if isinstance(value, list) else [value]))
    if question.type == "checkbox":
        return "Yes"
    if question.type == "phone":
        return readable_phone(str(value))
    if question.type == "date":
        try:
            return _shown_date(str(value))
        except ValueError:
            return str(value)
    return str(value)

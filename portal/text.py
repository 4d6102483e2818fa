"""Text rules that several floors share: how an email address is compared, what a slug or
programme code may look like, how a search needle becomes a LIKE pattern, and what the
words of a full-text search are."""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

# Lowercase letters and digits in words joined by single hyphens: event slugs, programme codes
# and categories. The form's Regexp validator takes the pattern, the services the compiled one.
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG = re.compile(SLUG_PATTERN)


def slug_from(text: str, max_length: int = 60) -> str:
    """A slug made from a title: accents dropped, lower case, every run of other characters a
    single hyphen, cut at a hyphen to at most `max_length`; "" when nothing is left (a title
    in a script without Latin letters)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0] if "-" in slug[:max_length] else slug[:max_length]
    return slug


def normalise_email(email: str) -> str:
    """The form an address is stored and compared in: no surrounding space, lower case."""
    return email.strip().lower()


def like_pattern(text: str) -> str:
    """`%text%` for LIKE ... ESCAPE '\\', lower-cased and stripped, with LIKE's own
    wildcards in the text matched literally."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Letters and digits in any script; everything else (spaces, punctuation, symbols, emoji,
# the search engines' operators) only separates words.
_WORD = re.compile(r"[^\W_]+")
# A search is every word at once; past this many, more words would only narrow it further
# while each costs another look-up in the index.
MAX_SEARCH_WORDS = 10
MAX_WORD_LENGTH = 100


def search_words(text: str) -> list[str]:
    """The words of a full-text search, in the order typed: runs of letters and digits (in
    NFC, so an accent typed as a separate mark stays in its word), each once whatever its
    case, at most MAX_SEARCH_WORDS. Nothing else survives, so no input is a query syntax.
    NUL is dropped, not a space, as the web's parameters drop it (web/params.py)."""
    words: dict[str, str] = {}
    for word in _WORD.findall(unicodedata.normalize("NFC", text.replace("\x00", ""))):
        words.setdefault(word.lower(), word[:MAX_WORD_LENGTH])
    return list(words.values())[:MAX_SEARCH_WORDS]


# The days of the week as Python counts them (date.weekday(): Monday is 0).
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# ISO 8601 durations of weeks, days, hours, minutes and seconds: P2D, PT2H, P1DT12H, P1W.
# Years and months are refused: their length depends on the date they are counted from.
_DURATION = re.compile(r"^P(?:(\d{1,4})W)?(?:(\d{1,4})D)?(?:T(?:(\d{1,5})H)?(?:(\d{1,6})M)?(?:(\d{1,7})S)?)?$")


def parse_duration(text: str) -> timedelta:
    """A timedelta from an ISO 8601 duration such as P2D or PT2H; ValueError, saying what is
    wrong, for anything else (P1M: months have no fixed length)."""
    value = text.strip().upper()
    match = _DURATION.match(value)
    if not match or value in ("P", "PT") or value.endswith("T"):
        months = re.match(r"^P(?:\d+Y)?(?:\d+M)", value)
        why = " (months and years are not taken: their length depends on the date; write days, like P30D)" if months else ""
        raise ValueError(f"{text!r} is not a duration like P2D (two days), PT2H (two hours) or P1DT12H{why}")
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


# How long personal data is kept: years, months, weeks and days (P24M, P2Y, P90D, P1Y6M).
_PERIOD = re.compile(r"^P(?:(\d{1,3})Y)?(?:(\d{1,4})M)?(?:(\d{1,4})W)?(?:(\d{1,5})D)?$")


@dataclass(frozen=True)
class Period:
    """A calendar period: months (years are twelve) and days, counted on the calendar so that
    P24M after 12 March 2025 is 12 March 2027 whatever the months' lengths."""

    months: int = 0
    days: int = 0

    def iso(self) -> str:
        years, months = divmod(self.months, 12)
        text = "".join(f"{n}{unit}" for n, unit in ((years, "Y"), (months, "M"), (self.days, "D")) if n)
        return "P" + (text or "0D")

    def after(self, day: date) -> date:
        """The date this period after `day` (the 31st of a shorter month falls on its last day)."""
        month_index = day.month - 1 + self.months
        year, month = day.year + month_index // 12, month_index % 12 + 1
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(day.day, last)) + timedelta(days=self.days)

    def words(self) -> str:
        years, months = divmod(self.months, 12)
        parts = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in ((years, "year"), (months, "month"), (self.days, "day")) if n]
        return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts) or "0 days"


def parse_period(text: str) -> Period:
    """A Period from an ISO 8601 duration of years, months, weeks and days (P24M, P2Y, P90D);
    ValueError saying what is wrong for anything else."""
    value = text.strip().upper()
    match = _PERIOD.match(value)
    if not match or value == "P":
        raise ValueError(f"{text!r} is not a period like P24M (24 months), P2Y (two years) or P90D (90 days)")
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    return Period(months=years * 12 + months, days=weeks * 7 + days)


def format_duration(delta: timedelta) -> str:
    """The ISO 8601 duration of a timedelta, in days, hours, minutes and seconds: P2D, PT2H."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "") if (days or time) else "PT0S"


MAX_REMINDERS = 5
LONGEST_REMINDER = timedelta(days=90)


def reminder_schedule(texts: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Reminders as kept: ISO 8601 durations before a start, normalised (P1W is P7D), longest
    first, each once, each from a minute to 90 days, at most MAX_REMINDERS; ValueError naming
    the first that is not."""
    seen: dict[timedelta, str] = {}
    for text in texts:
        delta = parse_duration(text)
        if not timedelta(minutes=1) <= delta <= LONGEST_REMINDER:
            raise ValueError(f"{text!r}: a reminder comes from a minute (PT1M) to 90 days (P90D) before the start")
        if delta in seen:
            raise ValueError(f"{text!r} is the same time as {seen[delta]!r}: each reminder once")
        seen[delta] = text
    if len(seen) > MAX_REMINDERS:
        raise ValueError(f"at most {MAX_REMINDERS} reminders, not {len(seen)}")
    return tuple(format_duration(delta) for delta in sorted(seen, reverse=True))

"""Letters: what organisers write themselves (a message to part of a roster, an event's
follow-up), with placeholders filled in for each recipient.

The body is Markdown, made HTML once per letter and sanitised like event descriptions; the
placeholders are then filled in per recipient, escaped for HTML in the HTML part and as
typed in the plain-text part (which is the Markdown itself, readable as it is). A subject is
one line whatever a name holds, so no value can start a header of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Boolean, ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from portal.errors import InvalidInput
from portal.mail.messages import environment
from portal.models import Event, Registration, RegistrationStatus
from portal.site import Site
from portal.templating import date_range, markdown

PLACEHOLDERS = {
    "name": "the participant's name",
    "event": "the event's title",
    "starts": "the event's dates and times, in its time zone",
    "venue": "the venue, or \u201conline\u201d",
    "manage_url": "the participant's private link to their registration",
}
# {word}: anything between braces without a space or another brace is meant as a placeholder.
_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")
# {manage_url} as markdown-it leaves it in a link's address: %7Bmanage_url%7D. It is the one
# placeholder a link may point to: the others hold what people typed (a name could be
# "javascript:..."), and the sanitiser has run before they are filled in.
_ENCODED_LINK = "%7Bmanage_url%7D"
# A placeholder written as a link's address: [text]({word}) or <{word}>.
_AS_LINK = re.compile(r"\]\(\s*<?\{([^{}\s]*)\}|<\{([^{}\s]*)\}>")


def unknown_placeholders(*texts: str) -> list[str]:
    """The placeholders the texts use that do not exist, each once, in the order written."""
    seen: dict[str, None] = {}
    for text in texts:
        for name in _PLACEHOLDER.findall(text or ""):
            if name not in PLACEHOLDERS:
                seen.setdefault(name)
    return list(seen)


def check_placeholders(subject: str, body: str) -> None:
    """Refuse a letter that uses a placeholder that does not exist, naming it, or that makes
    a link of one other than {manage_url}."""
    unknown = unknown_placeholders(subject, body)
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        noun = "placeholder" if len(unknown) == 1 else "placeholders"
        raise InvalidInput(f"Unknown {noun} {names}. The placeholders are {known}.")
    for match in _AS_LINK.finditer(body or ""):
        name = match.group(1) or match.group(2)
        if name != "manage_url":
            raise InvalidInput(f"{{{name}}} cannot be a link's address: only {{manage_url}} can. Write it as text instead.")


def values_for(site: Site, event: Event, registration: Registration) -> dict[str, str]:
    """What each placeholder stands for in the letter to one registrant."""
    venue = ", ".join(p for p in (event.venue, event.address) if p) or ("online" if event.online_url else "to be announced")
    return {
        "name": registration.name,
        "event": event.title,
        "starts": date_range(event.starts_at, event.ends_at, event.timezone, event.all_day),
        "venue": venue,
        "manage_url": site.manage_url(registration.token),
    }


def _fill(text: str, values: dict[str, str], *, html: bool) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return str(escape(values[name])) if html else values[name]

    filled = _PLACEHOLDER.sub(one, text)
    return filled.replace(_ENCODED_LINK, str(escape(values["manage_url"]))) if html else filled


@dataclass(frozen=True)
class Letter:
    """A subject and a Markdown body, ready to be filled in for many recipients: the
    Markdown is made HTML once."""

    subject: str
    body: str
    body_html: str

    @classmethod
    def prepare(cls, subject: str, body: str) -> Letter:
        return cls(subject, body, str(markdown(body)))

    def render(self, site: Site, event: Event, registration: Registration) -> tuple[str, str, str]:
        """(subject, text, html) of the letter to one registrant."""
        values = values_for(site, event, registration)
        subject = " ".join(_fill(self.subject, values, html=False).split())
        text_body = _fill(self.body, values, html=False)
        html_body = Markup(_fill(self.body_html, values, html=True))
        env = environment()
        context = {
            "site": site,
            "event": event,
            "registration": registration,
            "subject": subject,
            "body_text": text_body,
            "body_html": html_body,
            "manage_url": values["manage_url"],
            "event_url": site.event_url(event.slug),
        }
        text = env.get_template("email/letter.txt").render(context)
        html = env.get_template("email/letter.html").render(context)
        return subject, text, html


# --- who a message goes to ------------------------------------------------------------------

# The registrants an organiser may write to; the cancelled and the rejected are never written to.
AUDIENCE_STATUSES = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED, RegistrationStatus.PENDING)
# last_id, when set, is the newest registration of the event when the message was sent:
# whoever registers while the worker is still writing the emails is not written to.
_AUDIENCE_KEYS = frozenset({"statuses", "checked_in", "question", "answer", "last_id"})
# A form question's key (questions.schema.KEY_PATTERN is stricter); the SQLite condition puts
# it in a JSON path, so nothing but these characters may reach it.
_QUESTION_KEY = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_MAX_ANSWER = 100


def validate_audience(audience: Mapping[str, Any]) -> dict[str, Any]:
    """The audience in the shape EventMessage.audience keeps ({"statuses": [...], "checked_in":
    True|False|None, "question": key|None, "answer": value|None}, and "last_id" when set), or
    InvalidInput saying what to fix: no status chosen, a status nobody may be written to, an
    answer without a question."""
    if not isinstance(audience, Mapping):
        raise InvalidInput("Choose who receives the message.")
    unknown = sorted(str(k) for k in audience if k not in _AUDIENCE_KEYS)
    if unknown:
        raise InvalidInput(f"Unknown audience setting {', '.join(unknown)}.")
    allowed = ", ".join(s.value for s in AUDIENCE_STATUSES)
    statuses = audience.get("statuses") or []
    if isinstance(statuses, str) or not isinstance(statuses, (list, tuple)):
        raise InvalidInput(f"Choose the registrants by status: {allowed}.")
    chosen: list[str] = []
    for status in statuses:
        if status in (RegistrationStatus.CANCELLED, RegistrationStatus.REJECTED):
            raise InvalidInput(f"Messages never go to {status} registrations: choose among {allowed}.")
        if status not in AUDIENCE_STATUSES:
            raise InvalidInput(f"Unknown status {str(status)[:40]!r}: choose among {allowed}.")
        if str(status) not in chosen:
            chosen.append(str(status))
    if not chosen:
        raise InvalidInput(f"Choose at least one status to write to: {allowed}.")
    checked_in = audience.get("checked_in")
    if checked_in is not None and not isinstance(checked_in, bool):
        raise InvalidInput("Choose checked in, not checked in, or either.")
    question, answer = audience.get("question") or None, audience.get("answer") or None
    if question is not None and not (isinstance(question, str) and _QUESTION_KEY.match(question)):
        raise InvalidInput("That is not a question of this event's form.")
    if question is not None and not (isinstance(answer, str) and len(answer) <= _MAX_ANSWER):
        raise InvalidInput("Choose the answer the recipients gave to that question.")
    if question is None and answer is not None:
        raise InvalidInput("Choose the question that answer belongs to.")
    last_id = audience.get("last_id")
    if last_id is not None and (isinstance(last_id, bool) or not isinstance(last_id, int) or last_id < 0):
        raise InvalidInput("The audience's last registration is not a registration id.")
    chosen_audience = {
        "statuses": [s.value for s in AUDIENCE_STATUSES if s.value in chosen],
        "checked_in": checked_in,
        "question": question,
        "answer": answer,
    }
    if last_id is not None:
        chosen_audience["last_id"] = last_id
    return chosen_audience


class answer_holds(FunctionElement[bool]):
    """answer_holds(Registration.answers, key, value): the answer under `key` is `value`, or
    a list holding it; that is, a choice or yes/no question answered `value`, or a multiple
    choice with `value` among its picks. One condition whatever the question's type, on
    either engine (see the two compilers below)."""

    type = Boolean()
    inherit_cache = True
    name = "answer_holds"


@compiles(answer_holds)
def _answer_holds_sqlite(element: answer_holds, compiler: Any, **kw: Any) -> str:
    # json_each of a string gives one row, the string; of a list, a row per element; of a
    # missing key, none. The key is quoted in the path (the audience's key is letters,
    # digits and underscores only).
    answers, key, value = (compiler.process(c, **kw) for c in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_each({answers}, '$.\"' || {key} || '\"') AS answer_pick "
        f"WHERE answer_pick.type = 'text' AND answer_pick.value = {value})"
    )


@compiles(answer_holds, "postgresql")
def _answer_holds_postgresql(element: answer_holds, compiler: Any, **kw: Any) -> str:
    # jsonb containment: "a" @> "a", and ["a", "b"] @> "a" (an array contains a scalar it
    # holds); anything else, a missing key included, is false or NULL, never an error.
    answers, key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"coalesce((CAST({answers} AS JSONB) -> CAST({key} AS TEXT)) @> to_jsonb(CAST({value} AS TEXT)), false)"


def audience_conditions(event_id: int, audience: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """Conditions on Registration that pick an audience (see validate_audience) among one
    event's registrants: by status, by check-in, and by the answer to a choice question."""
    chosen = validate_audience(audience)
    conditions: list[ColumnElement[bool]] = [
        Registration.event_id == event_id,
        Registration.status.in_([RegistrationStatus(s) for s in chosen["statuses"]]),
        Registration.anonymised_at.is_(None),  # nobody left to write to
    ]
    if chosen["checked_in"] is True:
        conditions.append(Registration.checked_in_at.is_not(None))
    elif chosen["checked_in"] is False:
        conditions.append(Registration.checked_in_at.is_(None))
    if "last_id" in chosen:
        conditions.append(Registration.id <= chosen["last_id"])
    if chosen["question"] is not None:
        conditions.append(answer_holds(Registration.answers, chosen["question"], chosen["answer"]))
    return conditions


def body_html(letter: Letter, site: Site, event: Event, registration: Registration) -> Markup:
    """The body alone as HTML, filled in for one registrant (what the email's HTML part holds
    inside its frame), for a page that shows a preview."""
    return Markup(_fill(letter.body_html, values_for(site, event, registration), html=True))

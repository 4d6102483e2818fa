"""Organisers' messages to part of a roster: who they go to, a preview as the first recipient
sees it, a test to the organiser's own address, sending, and the event's history of them.

Sending writes the message and one mailing (mail/mailings.py) and nothing else: the worker
writes one outbox row per recipient, in batches, after the commit, so a message to 5,000
people is sent from the compose page at once and every recipient gets an email of their own.
The form's one-time nonce makes a second submission of the same form (a double click, a
resent POST) find the message already made and send nothing more.

A preview and a test show the first recipient's own values but for their private manage
link, which the back office never shows: a stand-in link takes its place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.errors import InvalidInput
from portal.mail import letters
from portal.mail.letters import AUDIENCE_STATUSES, PLACEHOLDERS, Letter
from portal.mail.mailings import schedule
from portal.models import (
    Event,
    EventMessage,
    Mailing,
    MailingKind,
    MessageStatus,
    OutboxMessage,
    Registration,
    event_by_slug,
)
from portal.questions import store
from portal.questions.schema import Question
from portal.rosters.answers import deciders
from portal.site import Site

MAX_SUBJECT = 200
MAX_BODY = 20_000
# Where a preview or a test shows a registrant's private link.
SAMPLE_TOKEN = "each-registrant-gets-their-own-link"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
HISTORY_LIMIT = 200
# Who the compose page starts with (its statuses: default_statuses).
DEFAULT_AUDIENCE: dict[str, Any] = {"statuses": ["confirmed"], "checked_in": None, "question": None, "answer": None}
STATUS_WORDS = {"confirmed": "confirmed", "waitlisted": "waiting list", "pending": "pending"}


@dataclass(frozen=True)
class ChoiceQuestion:
    """A question whose answer can choose the recipients, with the answers it offers."""

    key: str
    label: str
    options: tuple[tuple[str, str], ...]  # (value, label)
    retired: bool = False


@dataclass(frozen=True)
class MessageFormData:
    event: Event
    questions: list[ChoiceQuestion]
    counts: dict[str, int]  # registrants per status a message can go to
    checked_in: int  # of those, checked in
    placeholders: dict[str, str]
    count: int | None  # how many the audience asked about picks; None if no message can go to it
    statuses: list[str]  # the statuses the compose page starts with (default_statuses)


def default_statuses(counts: dict[str, int]) -> list[str]:
    """The status the compose page starts with: the confirmed if there are any, else the
    pending (an event that approves applicants has nobody confirmed at first), else the
    waiting list; the confirmed when there is nobody at all."""
    return next(([status] for status in ("confirmed", "pending", "waitlisted") if counts.get(status)), ["confirmed"])


def _questions(session: Session, event: Event) -> list[Question]:
    return deciders(store.definition_for_event(session, event))


def _choice_question(question: Question) -> ChoiceQuestion:
    return ChoiceQuestion(question.key, question.label, tuple((c.value, c.label) for c in question.options()), question.retired)


def message_form_data(session: Session, slug: str, audience: dict[str, Any] | None = None) -> MessageFormData:
    """What the compose page offers: the event, its choice questions and their answers, how
    many registrants there are of each status a message can go to, and how many `audience`
    (by default those of default_statuses) picks, None when it is not one a message can go to."""
    event = event_by_slug(session, slug)
    rows = session.execute(
        select(Registration.status, func.count(), func.count(Registration.checked_in_at))
        .where(Registration.event_id == event.id, Registration.status.in_(list(AUDIENCE_STATUSES)))
        .group_by(Registration.status)
    ).all()
    counts = {s.value: 0 for s in AUDIENCE_STATUSES}
    for status, n, _ in rows:
        counts[str(status)] = n
    questions = [_choice_question(q) for q in _questions(session, event)]
    statuses = default_statuses(counts)
    try:
        count: int | None = count_audience(session, event, {**DEFAULT_AUDIENCE, "statuses": statuses} if audience is None else audience)
    except InvalidInput:
        count = None
    return MessageFormData(event, questions, counts, sum(c for _, _, c in rows), dict(PLACEHOLDERS), count, statuses)


def _check_audience(session: Session, event: Event, audience: dict[str, Any]) -> dict[str, Any]:
    """The audience as stored, or InvalidInput: letters.validate_audience, and a question
    this event's form has, answered with one of its choices."""
    chosen = letters.validate_audience(audience)
    if chosen["question"] is not None:
        question = next((q for q in _questions(session, event) if q.key == chosen["question"]), None)
        if question is None:
            raise InvalidInput("This event's form has no choice question with that key: choose the question again.")
        if chosen["answer"] not in {c.value for c in question.options()}:
            raise InvalidInput(f"Choose one of the answers to \u201c{question.label}\u201d.")
    return chosen


def count_audience(session: Session, event: Event, audience: dict[str, Any]) -> int:
    """How many of the event's registrants the audience picks."""
    return _count(session, event, _check_audience(session, event, audience))


def _count(session: Session, event: Event, chosen: dict[str, Any]) -> int:
    conditions = letters.audience_conditions(event.id, chosen)
    return session.scalar(select(func.count()).select_from(Registration).where(*conditions)) or 0


def _check_letter(subject: str, body: str, limits: tuple[int, int] = (MAX_SUBJECT, MAX_BODY)) -> tuple[str, str]:
    subject, body = (subject or "").strip(), (body or "").strip()
    max_subject, max_body = limits
    if not subject:
        raise InvalidInput("Write a subject.")
    if not body:
        raise InvalidInput("Write the message.")
    if len(subject) > max_subject:
        raise InvalidInput(f"Shorten the subject to {max_subject} characters.")
    if len(body) > max_body:
        raise InvalidInput(f"Shorten the message to {max_body:,} characters.")
    letters.check_placeholders(subject, body)
    return subject, body


@dataclass(frozen=True)
class Preview:
    """The letter as its first recipient gets it (but for their private link), and how many
    it goes to."""

    subject: str
    text: str
    html: str
    body_html: Markup  # the body alone, for the compose page to show
    count: int
    name: str  # the first recipient's


def _first_recipient(session: Session, event: Event, audience: dict[str, Any]) -> Registration | None:
    conditions = letters.audience_conditions(event.id, audience)
    return session.scalars(select(Registration).where(*conditions).order_by(Registration.id).limit(1)).first()


def _preview(
    session: Session, site: Site, event: Event, subject: str, body: str, audience: dict[str, Any],
    limits: tuple[int, int] = (MAX_SUBJECT, MAX_BODY),
) -> Preview:
    subject, body = _check_letter(subject, body, limits)
    chosen = _check_audience(session, event, audience)
    first = _first_recipient(session, event, chosen)
    if first is None:
        raise InvalidInput("Nobody registered for this event matches the recipients you chose: choose others.")
    count = _count(session, event, chosen)
    # Never added to the session: the first recipient with a stand-in for their private link.
    stand_in = Registration(event_id=event.id, name=first.name, email=first.email, token=SAMPLE_TOKEN)
    letter = Letter.prepare(subject, body)
    rendered = letter.render(site, event, stand_in)
    return Preview(*rendered, body_html=letters.body_html(letter, site, event, stand_in), count=count, name=first.name)


def preview(session: Session, site: Site, slug: str, subject: str, body: str, audience: dict[str, Any]) -> Preview:
    """The letter as the first recipient will get it, and how many it goes to; InvalidInput
    for an empty subject or body, an unknown placeholder (named), or nobody to send to."""
    return _preview(session, site, event_by_slug(session, slug), subject, body, audience)


def send_test(
    session: Session, site: Site, actor: Actor, slug: str, subject: str, body: str, audience: dict[str, Any],
    *, kind: str = "message_test", limits: tuple[int, int] = (MAX_SUBJECT, MAX_BODY),
) -> Preview:
    """Queue one email to the organiser's own address: the letter as the first recipient
    will get it, its subject marked as a test. Also the test of an event's follow-up (a
    letter too): `kind` names it in the outbox, `limits` are its (subject, body) lengths."""
    event = event_by_slug(session, slug)
    shown = _preview(session, site, event, subject, body, audience, limits)
    session.add(OutboxMessage(
        kind=kind, to_address=actor.email, subject=f"[Test] {shown.subject}"[:300],
        body_text=shown.text, body_html=shown.html, attachments=[], event_id=event.id,
    ))
    return shown


def _check_nonce(nonce: str) -> None:
    if not isinstance(nonce, str) or not _NONCE.match(nonce):
        raise InvalidInput("This form is damaged or out of date: open \u201cWrite a message\u201d again and send from there.")


def send_message(
    session: Session, site: Site, actor: Actor, slug: str, subject: str, body: str, audience: dict[str, Any], nonce: str,
    *, expected: int | None = None,
) -> EventMessage:
    """Send a message to part of the event's roster: record it, ask the worker to write one
    email per recipient, and log it. A nonce already used returns that message and sends
    nothing (a double click sends once). With `expected` (the number the Send button
    showed), nothing is sent if the recipients are now another number."""
    _check_nonce(nonce)
    event = event_by_slug(session, slug)
    sent = _by_nonce(session, event, nonce)
    if sent is not None:
        return sent
    subject, body = _check_letter(subject, body)
    chosen = _check_audience(session, event, audience)
    # Those who register while the worker writes the emails are not written to.
    chosen["last_id"] = session.scalar(select(func.max(Registration.id)).where(Registration.event_id == event.id)) or 0
    count = _count(session, event, chosen)
    if not count:
        raise InvalidInput("Nobody registered for this event matches the recipients you chose: choose others.")
    if expected is not None and expected != count:
        raise InvalidInput(
            f"The recipients you chose are now {_people(count)}, not {expected}: nothing was sent. "
            "Check the preview and send again."
        )
    message = EventMessage(
        event_id=event.id, organiser_id=actor.id, sender=actor.label[:254], subject=subject, body=body,
        audience=chosen, recipients=count, nonce=nonce,
    )
    try:
        with session.begin_nested():
            session.add(message)
            session.flush()
    except IntegrityError:
        # The same form, sent twice at once: the other submission made it first.
        twin = _by_nonce(session, event, nonce)
        if twin is None:
            raise
        return twin
    schedule(session, MailingKind.MESSAGE, f"message:{message.id}", event_id=event.id, message_id=message.id)
    audit.record(
        session, actor, "event.message", event_id=event.id,
        after={"subject": subject, "recipients": count, "to": audience_words(chosen, _questions(session, event))},
    )
    return message


def _people(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def _by_nonce(session: Session, event: Event, nonce: str) -> EventMessage | None:
    message = session.scalar(select(EventMessage).where(EventMessage.nonce == nonce))
    if message is not None and message.event_id != event.id:
        raise InvalidInput("This form was for another event's message: open \u201cWrite a message\u201d again from this event.")
    return message


def audience_words(audience: dict[str, Any], questions: list[Question]) -> str:
    """Who a message went to, in words: "confirmed or pending; checked in; who answered
    “Vegetarian” to “Meals”"."""
    statuses = [STATUS_WORDS.get(s, s) for s in audience.get("statuses") or []]
    parts = [", ".join(statuses[:-1]) + " or " + statuses[-1] if len(statuses) > 1 else "".join(statuses)]
    if audience.get("checked_in") is True:
        parts.append("checked in")
    elif audience.get("checked_in") is False:
        parts.append("not checked in")
    key, answer = audience.get("question"), audience.get("answer")
    if key:
        question = next((q for q in questions if q.key == key), None)
        label = question.label if question else key
        answer_label = question.choice_label(answer) if question else answer
        parts.append(f"who answered \u201c{answer_label}\u201d to \u201c{label}\u201d")
    return "; ".join(parts)


@dataclass(frozen=True)
class HistoryRow:
    message: EventMessage
    audience: str  # in words
    delivered: int  # outbox: sent
    waiting: int  # outbox: queued
    failed: int  # outbox: held after failing
    written: int  # emails the worker has written to the outbox so far
    finished: bool  # the worker has written every email
    note: str  # why the worker stopped early, if it did


@dataclass(frozen=True)
class MessageHistory:
    event: Event
    rows: list[HistoryRow]


def message_history(session: Session, slug: str) -> MessageHistory:
    """The event's messages, newest first: who sent what, when, to how many, and how many
    of their emails are delivered, waiting, or held after failing."""
    event = event_by_slug(session, slug)
    messages = list(session.scalars(
        select(EventMessage).where(EventMessage.event_id == event.id)
        .order_by(EventMessage.created_at.desc(), EventMessage.id.desc()).limit(HISTORY_LIMIT)
    ))
    ids = [m.id for m in messages]
    mailings = {m.message_id: m for m in session.scalars(select(Mailing).where(Mailing.message_id.in_(ids)))} if ids else {}
    counts: dict[tuple[int, str], int] = {}
    if ids:
        rows = session.execute(
            select(Mailing.message_id, OutboxMessage.status, func.count())
            .join(OutboxMessage, OutboxMessage.mailing_id == Mailing.id)
            .where(Mailing.message_id.in_(ids))
            .group_by(Mailing.message_id, OutboxMessage.status)
        )
        counts = {(message_id, str(status)): n for message_id, status, n in rows}
    questions = _questions(session, event)
    history = []
    for message in messages:
        mailing = mailings.get(message.id)
        history.append(HistoryRow(
            message=message,
            audience=audience_words(message.audience or {}, questions),
            delivered=counts.get((message.id, MessageStatus.SENT.value), 0),
            waiting=counts.get((message.id, MessageStatus.QUEUED.value), 0),
            failed=counts.get((message.id, MessageStatus.FAILED.value), 0),
            written=mailing.queued if mailing else 0,
            finished=mailing is not None and mailing.finished_at is not None,
            note=mailing.note if mailing else "",
        ))
    return MessageHistory(event, history)

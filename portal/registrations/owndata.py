"""Everything the portal holds about one email address, for its owner: every registration
made with it (the private link of any one proves the address), each with its event, status
and dates, details, every answer (the sealed ones opened), files, sessions, check-ins and
certificates, how long it is kept; and the address's subscription to new events, if any.

Organisers' notes are theirs, not the participant's, and are left out; so are the private
tokens (of the other registrations, and of the subscription), which open pages and are not
data about the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    Certificate,
    CheckIn,
    Event,
    EventSession,
    Programme,
    Registration,
    SessionChoice,
    Subscriber,
    Upload,
)
from portal.questions.schema import FormDefinition, Question
from portal.questions.store import definition_for_event
from portal.registrations import sealed
from portal.registrations.participants import details_fixed, find_by_token
from portal.registrations.retention import Retention, retention_of
from portal.text import Period


@dataclass(frozen=True)
class Answer:
    key: str
    label: str
    value: Any  # as stored
    words: str  # as shown


@dataclass(frozen=True)
class HeldFile:
    key: str
    label: str
    filename: str
    size: int


@dataclass(frozen=True)
class ChosenSession:
    title: str
    starts_at: datetime
    ends_at: datetime
    waiting: bool


@dataclass(frozen=True)
class HeldCertificate:
    code: str
    issued_at: datetime
    revoked: bool


@dataclass(frozen=True)
class HeldRegistration:
    registration: Registration
    event: Event
    programme: Programme | None
    answers: list[Answer]
    files: list[HeldFile]
    sessions: list[ChosenSession]
    check_in_days: list[date]
    certificates: list[HeldCertificate]
    kept: Retention  # how long it is kept (the retention rule)
    # The registration whose link opened the page: its files and details form are linked.
    own: bool
    # Why its details cannot be corrected now (None: they can, from its manage page).
    details_fixed: str | None


@dataclass(frozen=True)
class HeldSubscription:
    frequency: str
    programmes: list[str]
    categories: list[str]
    confirmed_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OwnData:
    email: str
    registrations: list[HeldRegistration]
    subscription: HeldSubscription | None
    read_at: datetime


def _words(question: Question | None, value: Any) -> str:
    if question is not None and question.choices:
        labels = {c.value: c.label for c in question.choices}
        if isinstance(value, list):
            return ", ".join(labels.get(str(v), str(v)) for v in value)
        return labels.get(str(value), str(value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def _answers(form: FormDefinition, answers: dict[str, Any], files: set[str]) -> list[Answer]:
    """Every answer under its question's label, in the form's order; an answer to a question
    the form no longer has, under its key. File answers are listed with the files."""
    by_key = {q.key: q for q in form.questions if q.asks}
    order = [k for k in by_key if k in answers] + sorted(k for k in answers if k not in by_key)
    return [
        Answer(k, by_key[k].label if k in by_key else k, answers[k], _words(by_key.get(k), answers[k]))
        for k in order if k not in files
    ]


def _held(session: Session, registration: Registration, *, own: bool, default: Period, now: datetime) -> HeldRegistration:
    event = session.get_one(Event, registration.event_id)
    programme = session.get(Programme, event.programme_id) if event.programme_id else None
    form = definition_for_event(session, event)
    labels = {q.key: q.label for q in form.questions if q.asks}
    answers = sealed.all_answers(session, registration)
    uploads = session.scalars(select(Upload).where(Upload.registration_id == registration.id).order_by(Upload.id)).all()
    # A sensitive question's file keeps a generic name on its row; its real one is the answer.
    files = {
        u.question_key: HeldFile(u.question_key, labels.get(u.question_key, u.question_key), str(answers.get(u.question_key) or u.filename), u.size)
        for u in uploads
    }
    chosen = session.execute(
        select(EventSession.title, EventSession.starts_at, EventSession.ends_at, SessionChoice.waiting)
        .join(SessionChoice, SessionChoice.session_id == EventSession.id)
        .where(SessionChoice.registration_id == registration.id)
        .order_by(EventSession.starts_at, EventSession.id)
    ).all()
    days = set(session.scalars(select(CheckIn.day).where(CheckIn.registration_id == registration.id)))
    if registration.checked_in_at is not None:
        # Checked in by the roster's tick, which leaves no day's row: its day in the event's zone.
        days.add(registration.checked_in_at.astimezone(ZoneInfo(event.timezone)).date())
    certificates = session.execute(
        select(Certificate.code, Certificate.issued_at, Certificate.revoked_at)
        .where(Certificate.registration_id == registration.id).order_by(Certificate.issued_at, Certificate.id)
    ).all()
    return HeldRegistration(
        registration=registration,
        event=event,
        programme=programme,
        answers=_answers(form, answers, set(files)),
        files=list(files.values()),
        sessions=[ChosenSession(t, s, e, w) for t, s, e, w in chosen],
        check_in_days=sorted(days),
        certificates=[HeldCertificate(code, issued, revoked is not None) for code, issued, revoked in certificates],
        kept=retention_of(event, programme, default),
        own=own,
        details_fixed=details_fixed(registration, event, now),
    )


def registrations_of(session: Session, email: str) -> list[Registration]:
    """Every registration held under an address, oldest first (anonymised ones hold it no more)."""
    return list(session.scalars(
        select(Registration).where(Registration.email == email, Registration.anonymised_at.is_(None))
        .order_by(Registration.created_at, Registration.id)
    ))


def own_data(session: Session, token: str, *, retention: Period, now: datetime | None = None) -> OwnData:
    """What the portal holds about the address of the registration `token` opens."""
    now = now or utcnow()
    mine = find_by_token(session, token)
    held = [_held(session, r, own=r.id == mine.id, default=retention, now=now) for r in registrations_of(session, mine.email)]
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email == mine.email))
    subscription = None
    if subscriber is not None:
        subscription = HeldSubscription(
            frequency=str(subscriber.frequency), programmes=list(subscriber.programmes or []),
            categories=list(subscriber.categories or []), confirmed_at=subscriber.confirmed_at,
            created_at=subscriber.created_at, updated_at=subscriber.updated_at,
        )
    return OwnData(email=mine.email, registrations=held, subscription=subscription, read_at=now)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def as_json(data: OwnData) -> dict[str, Any]:
    """The download: the same as the page, times in UTC (ISO 8601) with each event's zone."""
    registrations = []
    for held in data.registrations:
        r, e = held.registration, held.event
        registrations.append({
            "event": {
                "title": e.title, "starts_at": _time(e.starts_at), "ends_at": _time(e.ends_at), "timezone": e.timezone,
                "programme": held.programme.name if held.programme else None,
            },
            "status": str(r.status),
            "name": r.name,
            "email": r.email,
            "organisation": r.organisation,
            "registered_at": _time(r.created_at),
            "consented_at": _time(r.consented_at),
            "confirmed_at": _time(r.confirmed_at),
            "waitlisted_at": _time(r.waitlisted_at),
            "cancelled_at": _time(r.cancelled_at),
            "updated_at": _time(r.updated_at),
            "answers": [{"question": a.label, "key": a.key, "answer": a.value} for a in held.answers],
            "files": [{"question": f.label, "key": f.key, "filename": f.filename, "size": f.size} for f in held.files],
            "sessions": [
                {"title": s.title, "starts_at": _time(s.starts_at), "ends_at": _time(s.ends_at), "waiting": s.waiting}
                for s in held.sessions
            ],
            "check_in_days": [d.isoformat() for d in held.check_in_days],
            "certificates": [
                {"code": c.code, "issued_at": _time(c.issued_at), "revoked": c.revoked} for c in held.certificates
            ],
            "kept_until": held.kept.kept_until.isoformat(),
            "retention": held.kept.period.iso(),
        })
    subscription = None
    if data.subscription is not None:
        s = data.subscription
        subscription = {
            "frequency": s.frequency, "programmes": s.programmes, "categories": s.categories,
            "confirmed_at": _time(s.confirmed_at), "created_at": _time(s.created_at), "updated_at": _time(s.updated_at),
        }
    return {"email": data.email, "read_at": _time(data.read_at), "registrations": registrations, "subscription": subscription}

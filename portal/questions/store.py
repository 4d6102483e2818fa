"""Where forms are kept and how a change to one keeps the answers' meaning.

An event's form is its own if it has one, else its programme's, else the site's default
(`form_for_event`). A form changes only through `save_form`, which:
- keeps every question that has answers: a question removed by an import is retired (new
  registrants no longer see it; rosters and exports keep it, after the live ones), and the
  builder is told to retire rather than delete it;
- refuses to take away or rename the value of a choice someone picked (its label may change),
  or to change an answered question's type (text and long text excepted);
- raises the form's version, so every process rebuilds the form it kept, and writes the
  change to the audit log (keys and labels, never an answer);
- seals the answers already given to a question that becomes sensitive, in the same
  transaction, and for a file question the files sent too (written sealed under new names;
  the plain files, no longer named by any upload, go with uploads.sweep_orphans);
- moves back to the open the answers to a question that stops being sensitive, so that
  rosters and exports show them again (its files stay sealed on disk: every download opens
  a sealed file).

A sensitive answer is kept sealed (Registration.sealed_answers), where no query can read it:
whether a question was answered, and what was picked, looks there too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.db import utcnow
from portal.models import ChoicePick, Event, Programme, Questionnaire, Registration, Upload, programme_by_code
from portal.questions.schema import FormDefinition, FormDefinitionError, Question, generic_upload_name, parse_form
from portal.sealing import keyring_of
from portal.storedfiles import save_private, stored_path

_COMPATIBLE = {frozenset({"text", "textarea"})}
# Registrations read (and, for a question made sensitive, re-sealed) at a time.
_BATCH = 200


# Definitions read per (form id, version, updated_at): every registration reads its event's
# form, and a version is never changed in place (save_form raises it and sets updated_at).
# updated_at tells a form apart from another with the same id and version: an older one whose
# id SQLite gave out again, or one in another database (each test has its own).
_parsed: OrderedDict[tuple[int, int, Any], FormDefinition] = OrderedDict()
_parsed_lock = threading.Lock()
_PARSED_MAX = 256


def definition(row: Questionnaire | None) -> FormDefinition:
    """The definition a stored form holds (an empty one for None)."""
    if row is None:
        return FormDefinition()
    if row.id is None or row.version is None:
        return parse_form(row.questions or [], organisation_required=row.organisation_required)
    key = (row.id, row.version, row.updated_at)
    with _parsed_lock:
        kept = _parsed.get(key)
        if kept is not None:
            _parsed.move_to_end(key)
            return kept
    parsed = parse_form(row.questions or [], organisation_required=row.organisation_required)
    with _parsed_lock:
        _parsed[key] = parsed
        while len(_parsed) > _PARSED_MAX:
            _parsed.popitem(last=False)
    return parsed


@dataclass(frozen=True)
class Owner:
    """Whose form: an event's own, a programme's, or (neither) the site's default."""

    programme_id: int | None = None
    event_id: int | None = None

    def condition(self) -> Any:
        return and_(
            Questionnaire.programme_id.is_(None) if self.programme_id is None else Questionnaire.programme_id == self.programme_id,
            Questionnaire.event_id.is_(None) if self.event_id is None else Questionnaire.event_id == self.event_id,
        )


def find_form(session: Session, owner: Owner) -> Questionnaire | None:
    return session.scalar(select(Questionnaire).where(owner.condition()))


def form_for_event(session: Session, event: Event) -> Questionnaire | None:
    """The form an event's registrants fill in: its own, its programme's, or the default.
    One query; None only if even the default is missing (a database not migrated to 0009)."""
    candidates = [and_(Questionnaire.event_id == event.id)]
    if event.programme_id is not None:
        candidates.append(and_(Questionnaire.programme_id == event.programme_id, Questionnaire.event_id.is_(None)))
    candidates.append(and_(Questionnaire.programme_id.is_(None), Questionnaire.event_id.is_(None)))
    rows = {(r.event_id is not None, r.programme_id is not None): r for r in session.scalars(select(Questionnaire).where(or_(*candidates)))}
    return rows.get((True, False)) or rows.get((False, True)) or rows.get((False, False))


def definition_for_event(session: Session, event: Event) -> FormDefinition:
    return definition(form_for_event(session, event))


def _registrations_of(owner: Owner) -> Any:
    """The registrations that answered a form of this owner."""
    if owner.event_id is not None:
        return Registration.event_id == owner.event_id
    own_form = select(Questionnaire.event_id).where(Questionnaire.event_id.is_not(None))
    if owner.programme_id is not None:
        whose = Event.programme_id == owner.programme_id
    else:
        # The default form: events without a programme, and runs of a programme without a form.
        with_form = select(Questionnaire.programme_id).where(Questionnaire.programme_id.is_not(None))
        whose = or_(Event.programme_id.is_(None), Event.programme_id.not_in(with_form))
    events = select(Event.id).where(whose, Event.id.not_in(own_form))
    return Registration.event_id.in_(events)


def _sealed_of(session: Session, owner: Owner) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(registration id, event id, its sealed answers opened) for the owner's registrations
    that have sealed answers, read a batch at a time."""
    after = 0
    while True:
        rows = session.execute(
            select(Registration.id, Registration.event_id, Registration.sealed_answers)
            .where(_registrations_of(owner), Registration.id > after, Registration.sealed_answers.is_not(None))
            .order_by(Registration.id).limit(_BATCH)
        ).all()
        if not rows:
            return
        keyring = keyring_of(session)
        for registration_id, event_id, token in rows:
            yield registration_id, event_id, keyring.open_json(token)
        if len(rows) < _BATCH:
            return
        after = rows[-1][0]


def _holds(value: Any) -> bool:
    # An optional question left blank ('' or no picks) holds nothing to lose.
    return value not in (None, "", [])


def answered_keys(session: Session, owner: Owner, keys: Iterable[str]) -> frozenset[str]:
    """Which of `keys` any registration holds an answer under for this owner's form, in
    the open or sealed."""
    found: set[str] = set()
    for key in keys:
        # as_string is NULL for a missing key or a JSON null, and the JSON text of a list (a
        # multiple choice), on both engines. Without it SQLite reads a missing key as the text
        # 'null' (json_quote), not NULL: every question would count as answered.
        given = Registration.answers[key].as_string()
        if session.scalar(
            select(Registration.id).where(_registrations_of(owner), given.is_not(None), given.not_in(["", "[]"])).limit(1)
        ) is not None:
            found.add(key)
    rest = set(keys) - found
    if rest:
        for _, _, opened in _sealed_of(session, owner):
            found.update(k for k in rest if _holds(opened.get(k)))
            rest -= found
            if not rest:
                break
    return frozenset(found)


def answered(session: Session, owner: Owner, key: str) -> bool:
    """Whether any registration holds an answer under `key` for this owner's form."""
    return key in answered_keys(session, owner, [key])


def _values(given: Any) -> set[str]:
    if isinstance(given, list):
        return {str(v) for v in given}
    return {str(given)} if given not in (None, "") else set()


def picked_values(session: Session, owner: Owner, key: str) -> set[str]:
    """The values registrants picked for a choice or multiple-choice question."""
    values: set[str] = set()
    for (given,) in session.execute(select(Registration.answers[key]).where(_registrations_of(owner))):
        values |= _values(given)
    for _, _, opened in _sealed_of(session, owner):
        values |= _values(opened.get(key))
    return values


def merge(session: Session, owner: Owner, old: FormDefinition, new: FormDefinition, *, retire_removed: bool) -> FormDefinition:
    """`new`, with the rules that keep answers meaningful applied against `old`: a removed
    question that has answers comes back retired (or, without `retire_removed`, is refused)."""
    new_keys = {q.key for q in new.questions if q.key}
    kept = list(new.questions)
    for index, question in enumerate(old.questions):
        if not question.asks or question.key in new_keys:
            continue
        if answered(session, owner, question.key):
            if not retire_removed:
                raise FormDefinitionError(
                    f"form[{index}] (key {question.key!r}): has answers, so it cannot be deleted; retire it instead",
                    index=index, key=question.key,
                )
            kept.append(_retired(question))
    old_by_key = old.by_key()
    for index, question in enumerate(kept):
        before = old_by_key.get(question.key)
        if before is None or not question.asks:
            continue
        where = f"form[{index}] (key {question.key!r})"
        if before.type != question.type and frozenset({before.type, question.type}) not in _COMPATIBLE:
            if answered(session, owner, question.key):
                raise FormDefinitionError(
                    f"{where}: has answers as a {before.type} question, so its type cannot change to {question.type}; "
                    "add a new question with another key instead",
                    index=index, key=question.key, field="type",
                )
        if before.type in ("choice", "multichoice") and question.type in ("choice", "multichoice"):
            gone = {c.value for c in before.choices} - {c.value for c in question.choices}
            if gone:
                taken = gone & picked_values(session, owner, question.key)
                if taken:
                    raise FormDefinitionError(
                        f"{where}: the choice {sorted(taken)[0]!r} has been picked, so it must stay (its label may change)",
                        index=index, key=question.key, field="choices",
                    )
    # The merged list must itself be a valid form (a condition on a retired key stays valid).
    return parse_form([q.to_json() for q in kept], organisation_required=new.organisation_required)


def _retired(question: Question) -> Question:
    # No one new is asked a retired question, so its condition no longer applies (and the
    # question it named may itself be gone).
    return replace(question, retired=True, nominator=False, show_if=None)


def save_form(
    session: Session,
    actor: Actor | None,
    owner: Owner,
    new: FormDefinition,
    *,
    retire_removed: bool = True,
    now: datetime | None = None,
    action: str = "form.update",
) -> Questionnaire:
    """Store `new` as the owner's form (creating it if it has none), after `merge`; the
    version rises only if something changed. Writes the change to the audit log."""
    now = now or utcnow()
    row = find_form(session, owner)
    old = definition(row)
    merged = merge(session, owner, old, new, retire_removed=retire_removed)
    questions = merged.to_json()
    if row is not None and row.questions == questions and row.organisation_required == merged.organisation_required:
        return row
    if row is None:
        row = Questionnaire(
            programme_id=owner.programme_id, event_id=owner.event_id, questions=questions,
            organisation_required=merged.organisation_required, version=1, created_at=now, updated_at=now,
        )
        session.add(row)
    else:
        row.questions = questions
        row.organisation_required = merged.organisation_required
        row.version += 1
        row.updated_at = now
    session.flush()
    _record_earlier_picks(session, owner, old, merged)
    after = _summary(merged, owner)
    newly = sorted(merged.sensitive_keys() - old.sensitive_keys())
    if newly:
        sealed = _seal_answers(session, owner, newly)
        if sealed:
            # How many, and which questions: never an answer.
            whose = "registration's" if sealed == 1 else "registrations'"
            after["answers sealed"] = f"{sealed} {whose} answers to {', '.join(newly)}"
        file_keys = sorted(q.key for q in merged.questions if q.key in newly and q.type == "file")
        files = _seal_files(session, owner, file_keys)
        if files:
            after["files sealed"] = f"{files} file{'' if files == 1 else 's'} sent for {', '.join(file_keys)}"
    in_form = merged.by_key()
    opened = sorted(k for k in old.sensitive_keys() - merged.sensitive_keys() if k in in_form)
    if opened:
        unsealed = _unseal_answers(session, owner, opened)
        if unsealed:
            whose = "registration's" if unsealed == 1 else "registrations'"
            after["answers unsealed"] = f"{unsealed} {whose} answers to {', '.join(opened)}"
    audit.record(
        session, actor, action, event_id=owner.event_id,
        before=_summary(old, owner) if old.questions or old.organisation_required else {},
        after=after, now=now,
    )
    return row


def _seal_answers(session: Session, owner: Owner, keys: list[str]) -> int:
    """Seal the answers under `keys` (questions just made sensitive) that the owner's
    registrations hold in the open, a batch at a time; how many registrations changed."""
    holds_one = or_(*(Registration.answers[key].as_string().is_not(None) for key in keys))
    count, after = 0, 0
    while True:
        batch = session.scalars(
            select(Registration).where(_registrations_of(owner), Registration.id > after, holds_one)
            .order_by(Registration.id).limit(_BATCH)
        ).all()
        for registration in batch:
            plain = dict(registration.answers or {})
            moving = {key: plain.pop(key) for key in keys if key in plain}
            if not moving:
                continue
            # The keys are asked for only when there is something to seal: an import of a new
            # form needs none.
            keyring = keyring_of(session)
            held = keyring.open_json(registration.sealed_answers) if registration.sealed_answers else {}
            registration.answers = plain
            registration.sealed_answers = keyring.seal_json({**held, **moving})
            count += 1
        session.flush()
        if len(batch) < _BATCH:
            return count
        after = batch[-1].id


def _unseal_answers(session: Session, owner: Owner, keys: list[str]) -> int:
    """The mirror of _seal_answers: move the answers under `keys` (questions no longer
    sensitive) from the owner's registrations' sealed answers to their open ones, a batch at
    a time; how many registrations changed. A file question's files stay sealed on disk
    (Upload.sealed): every download opens a sealed file, and its real name, now an open
    answer again, is the name it is offered under."""
    count, after = 0, 0
    while True:
        batch = session.scalars(
            select(Registration).where(_registrations_of(owner), Registration.id > after, Registration.sealed_answers.is_not(None))
            .order_by(Registration.id).limit(_BATCH)
        ).all()
        for registration in batch:
            keyring = keyring_of(session)
            held = keyring.open_json(registration.sealed_answers or "")
            moving = {key: held.pop(key) for key in keys if key in held}
            if not moving:
                continue
            registration.answers = {**(registration.answers or {}), **moving}
            registration.sealed_answers = keyring.seal_json(held) if held else None
            count += 1
        session.flush()
        if len(batch) < _BATCH:
            return count
        after = batch[-1].id


def _seal_files(session: Session, owner: Owner, keys: list[str]) -> int:
    """Seal the files the owner's registrations sent for `keys` (file questions just made
    sensitive), a batch at a time; how many. Each is written sealed under a new name and its
    row pointed at it, keeping the type's generic name (its real name is the answer, sealed
    by _seal_answers). Nothing is overwritten: if the transaction is rolled back, the rows
    still name the plain files, and the sealed copies, named by no row, go with
    uploads.sweep_orphans, as do the plain files once it commits."""
    if not keys:
        return 0
    whose = select(Registration.id).where(_registrations_of(owner))
    count, after = 0, 0
    while True:
        batch = session.scalars(
            select(Upload).where(
                Upload.registration_id.in_(whose), Upload.question_key.in_(keys), Upload.sealed.is_(False), Upload.id > after,
            ).order_by(Upload.id).limit(_BATCH)
        ).all()
        if batch:
            directory = session.info.get("upload_directory")
            if not isinstance(directory, Path):
                raise RuntimeError(
                    "This database session has no upload directory: make it with make_session_factory(engine, upload_directory=...)"
                )
            keyring = keyring_of(session)
        for upload in batch:
            path = stored_path(directory, upload.stored_name)
            if path is not None and path.is_file():
                upload.stored_name = save_private(directory, keyring.seal(path.read_bytes()))
            upload.sealed = True
            upload.filename = generic_upload_name(upload.content_type)
            count += 1
        session.flush()
        if len(batch) < _BATCH:
            return count
        after = batch[-1].id


def _record_earlier_picks(session: Session, owner: Owner, old: FormDefinition, new: FormDefinition) -> None:
    """When a question gains places, the picks made before count against them: each
    registration's picks of it are recorded (choice_picks) as a registration would have.
    Without this a choice given 1 place after 2 people picked it would show 1 left."""
    before = old.by_key()
    gained = [
        q for q in new.questions
        if q.asks and not q.retired and q.has_places and not (before.get(q.key) and before[q.key].has_places)
    ]
    if not gained:
        return
    rows = session.execute(
        select(Registration.id, Registration.event_id, Registration.answers).where(_registrations_of(owner))
    ).all()
    if not rows:
        return
    # A question that was sensitive may hold its earlier answers sealed still.
    opened = {registration_id: answers for registration_id, _, answers in _sealed_of(session, owner)}
    rows = [(r.id, r.event_id, {**(r.answers or {}), **opened.get(r.id, {})}) for r in rows]
    ids = [r[0] for r in rows]
    for question in gained:
        values = {c.value for c in question.choices}
        # What each registration picked now: a pick kept from before the places were taken
        # away may be one it has since changed, and goes (through the ORM: see seats.hold_places).
        now = {}
        for registration_id, event_id, answers in rows:
            given = (answers or {}).get(question.key)
            now[registration_id] = (event_id, {v for v in (given if isinstance(given, list) else [given]) if v in values})
        have = set()
        for pick in session.scalars(
            select(ChoicePick).where(ChoicePick.question_key == question.key, ChoicePick.registration_id.in_(ids))
        ):
            if pick.value in now[pick.registration_id][1]:
                have.add((pick.registration_id, pick.value))
            else:
                session.delete(pick)
        for registration_id, (event_id, picked) in now.items():
            for value in sorted(picked):
                if (registration_id, value) not in have:
                    session.add(ChoicePick(registration_id=registration_id, question_key=question.key, value=value, event_id=event_id))
    session.flush()


def _summary(form: FormDefinition, owner: Owner) -> dict[str, Any]:
    """What the audit log keeps of a form: whose it is, and each question's key, type and
    label (labels are the organisers' words; no answer is ever in it)."""
    return {
        "form": "event" if owner.event_id else ("programme" if owner.programme_id else "default"),
        **({"programme_id": owner.programme_id} if owner.programme_id else {}),
        "organisation_required": form.organisation_required,
        "questions": [
            f"{q.key or '-'} ({q.type}{', sensitive' if q.sensitive else ''}{', retired' if q.retired else ''}): {q.label}"
            for q in form.questions
        ],
    }


def owner_of_programme(session: Session, code: str) -> tuple[Programme, Owner]:
    programme = programme_by_code(session, code)
    return programme, Owner(programme_id=programme.id)


def remove_event_form(session: Session, actor: Actor | None, event: Event, *, now: datetime | None = None) -> bool:
    """Go back to the programme's (or the default) form. Refused while the event's own form
    has answers that the other form would not show."""
    row = find_form(session, Owner(event_id=event.id))
    if row is None:
        return False
    own = definition(row)
    for question in own.questions:
        if question.asks and answered(session, Owner(event_id=event.id), question.key):
            raise FormDefinitionError(
                f"This event's form has answers (to {question.label!r}), so it stays; retire questions instead."
            )
    session.delete(row)
    audit.record(session, actor, "form.remove", event_id=event.id, before=_summary(own, Owner(event_id=event.id)), now=now)
    return True

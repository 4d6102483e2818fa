"""Answers as the roster and the exports show them: one column per question that takes an
answer, headed by its label, in form order (retired questions last, marked so); a choice by
its label, a multiple choice as its picks' labels joined by "; ", a ticked box as Yes. Also
what the roster counts and filters by: the answers to choice, multiple-choice and yes/no
questions, with the places left of choices that have them.

Answers are kept by key (Registration.answers), so a relabelled question or choice shows its
new label over every answer already given.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, exists, func, literal, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from portal.errors import InvalidInput
from portal.models import ACTIVE_STATUSES, Registration
from portal.questions.schema import CONDITION_TYPES, FormDefinition, Question
from portal.registrations.endorsement import endorsement_label
from portal.registrations.seats import places_taken

RETIRED = " (retired)"
# An answer under a key the form has not at all (a deleted question, another form's, older data).
GONE = " (no longer asked)"
JOIN = "; "


@dataclass(frozen=True)
class AnswerColumn:
    """One column of answers: a question of the form, or (question None) a key that answers
    hold but the form no longer has, headed by its last known label (or the key)."""

    key: str
    heading: str
    question: Question | None = None

    @property
    def is_file(self) -> bool:
        return self.question is not None and self.question.type == "file"

    @property
    def sensitive(self) -> bool:
        return self.question is not None and self.question.sensitive


def answer_columns(
    definition: FormDefinition, extra_keys: Iterable[str] = (), taken: Iterable[str] = (), labels: Mapping[str, str] | None = None,
) -> list[AnswerColumn]:
    """The answer columns for a form: its questions that take an answer, then `extra_keys`
    not among them, each headed by its last known label in `labels` (rosters.labels), or its
    key, and marked "(no longer asked)". A heading that repeats one in `taken` (the roster's
    own columns) or an earlier one gets the key beside it, so every column can be told apart."""
    seen = {t.casefold() for t in taken}
    columns: list[AnswerColumn] = []
    for question in definition.answer_questions():
        heading = question.label + (RETIRED if question.retired else "")
        if heading.casefold() in seen:
            heading = f"{heading} [{question.key}]"
        seen.add(heading.casefold())
        columns.append(AnswerColumn(question.key, heading, question))
    known = {c.key for c in columns}
    for key in extra_keys:
        if key in known:
            continue
        heading = (labels or {}).get(key, key) + GONE
        if heading.casefold() in seen:
            heading = f"{heading} [{key}]"
        seen.add(heading.casefold())
        columns.append(AnswerColumn(key, heading))
    return columns


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return JOIN.join(_plain(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


def text_function(question: Question | None) -> Callable[[Any], str]:
    """answer -> its text in a cell, for one column: choices by their labels (a value the
    form no longer offers as itself), lists joined by "; ", true as Yes."""
    if question is None or question.type not in CONDITION_TYPES:
        return _plain
    labels = {c.value: c.label for c in question.options()}

    def text(value: Any) -> str:
        if isinstance(value, str):
            return labels.get(value, value)
        if isinstance(value, list):
            return JOIN.join(labels.get(v, v) if isinstance(v, str) else _plain(v) for v in value)
        return _plain(value)

    return text


@dataclass(frozen=True)
class Cell:
    text: str
    file: bool = False  # a file's name: the roster links it to the download
    # A sensitive question's answer: shown as "Sensitive" with a button that reveals it (an
    # audited POST, rosters.data_access), never in the page otherwise; `text` is empty.
    masked: bool = False


def row_cells(
    columns: list[AnswerColumn], functions: list[Callable[[Any], str]], answers: dict[str, Any] | None, *, sealed: bool = False,
) -> list[Cell]:
    """A registration's answer cells; `sealed`: it holds sealed answers (which of them is not
    known without opening them, so every sensitive question of such a row is masked)."""
    answers = answers if isinstance(answers, dict) else {}
    cells = []
    for column, text in zip(columns, functions, strict=True):
        if column.sensitive:
            # Masked when there may be something to reveal: sealed answers, or one still among
            # the plain ones (a question made sensitive after people answered it). An
            # anonymised or erased registration has neither, and shows nothing to reveal.
            if sealed or column.key in answers:
                cells.append(Cell("", file=column.is_file, masked=True))
            else:
                cells.append(Cell(""))
            continue
        value = answers.get(column.key)
        shown = text(value)
        cells.append(Cell(shown, file=column.is_file and bool(shown)))
    return cells


# --- counting and filtering --------------------------------------------------------------


def deciders(definition: FormDefinition) -> list[Question]:
    """The questions the roster counts and filters by (retired ones too); not the sensitive
    ones, whose answers are sealed where no query can count them."""
    return [q for q in definition.answer_questions() if q.type in CONDITION_TYPES and not q.sensitive]


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def answer_condition(session: Session, question: Question, value: str) -> ColumnElement[bool]:
    """Registrations whose answer to `question` is `value` (or, for a multiple choice,
    includes it)."""
    if question.type == "multichoice":
        if _is_postgresql(session):
            # jsonb containment: true for a list holding the value, false (not an error) for anything else.
            return cast(Registration.answers, JSONB)[question.key].contains([value])
        picks = func.json_each(Registration.answers, f"$.{question.key}").table_valued("value")
        return exists(select(literal(1)).select_from(picks).where(picks.c.value == value))
    return Registration.answers[question.key].as_string() == value


def _counts(session: Session, event_id: int, question: Question) -> dict[str, int]:
    """Active registrations per answer to one question."""
    of_event = (Registration.event_id == event_id, Registration.status.in_(ACTIVE_STATUSES))
    if question.type != "multichoice":
        answer = Registration.answers[question.key].as_string()
        rows = session.execute(select(answer, func.count()).where(*of_event, answer.is_not(None)).group_by(answer))
        return {str(value): n for value, n in rows}
    if _is_postgresql(session):
        given = Registration.answers[question.key]
        picks = (
            select(func.json_array_elements_text(given).label("value"))
            .where(*of_event, func.json_typeof(given) == "array").subquery()
        )
        rows = session.execute(select(picks.c.value, func.count()).group_by(picks.c.value))
    else:
        each = func.json_each(Registration.answers, f"$.{question.key}").table_valued("value", "type")
        rows = session.execute(
            select(cast(each.c.value, Text), func.count()).select_from(Registration).join(each, true())
            .where(*of_event, each.c.type == "text").group_by(each.c.value)
        )
    return {str(value): n for value, n in rows}


@dataclass(frozen=True)
class ChoiceCount:
    value: str
    label: str
    count: int  # active registrations that gave this answer
    places: int | None = None
    taken: int = 0  # places held (registrations.seats)

    @property
    def left(self) -> int | None:
        return None if self.places is None else max(self.places - self.taken, 0)


@dataclass(frozen=True)
class QuestionCounts:
    question: Question
    choices: tuple[ChoiceCount, ...]
    other: int  # answers that are none of the choices offered now (old values)


def choice_counts(session: Session, event_id: int, definition: FormDefinition) -> list[QuestionCounts]:
    """For each choice, multiple-choice and yes/no question: how many active registrations
    gave each answer, and the places left of choices that have them."""
    questions = deciders(definition)
    if not questions:
        return []
    held = places_taken(session, event_id) if any(q.has_places for q in questions) else {}
    result = []
    for question in questions:
        counts = _counts(session, event_id, question)
        options = question.options()
        choices = tuple(
            ChoiceCount(c.value, c.label, counts.get(c.value, 0), c.places, held.get((question.key, c.value), 0)) for c in options
        )
        known = {c.value for c in options}
        result.append(QuestionCounts(question, choices, sum(n for v, n in counts.items() if v not in known)))
    return result


def answer_filter(
    session: Session, definition: FormDefinition, key: str, value: str,
) -> tuple[Question | None, str, tuple[ColumnElement[bool], ...]]:
    """(the question a roster link filters by, the answer, the condition it adds). No
    condition until one of the question's answers is chosen: a value it does not offer (left
    from the question chosen before) is dropped. InvalidInput for a question the form has
    not, or that has no choices."""
    if not key:
        return None, "", ()
    question = definition.by_key().get(key)
    if question is None or question.type not in CONDITION_TYPES or question.sensitive:
        raise InvalidInput("This roster link filters by a question this event's form does not have. Open the roster again from the event.")
    if value not in {c.value for c in question.options()}:
        return question, "", ()
    return question, value, (answer_condition(session, question, value),)


@dataclass(frozen=True)
class RosterAnswers:
    """The answers part of a roster page: the columns, each row's cells, the counts per
    choice, and the filter."""

    columns: list[AnswerColumn]
    cells: dict[int, list[Cell]]
    counts: list[QuestionCounts]
    question: Question | None  # the roster is filtered by the answer to this question
    answer: str
    endorsements: dict[int, str] | None  # registration id -> the endorsement in words; None: no column

    @property
    def deciders(self) -> list[Question]:
        return [c.question for c in self.counts]

    def answer_label(self) -> str:
        if self.question is None or not self.answer:
            return ""
        return text_function(self.question)(self.answer)


def roster_answers(
    definition: FormDefinition, rows: list[Registration], counts: list[QuestionCounts],
    question: Question | None, answer: str, tz: str,
) -> RosterAnswers:
    columns = answer_columns(definition)
    functions = [text_function(c.question) for c in columns]
    endorsements = {r.id: endorsement_label(r, tz) for r in rows if r.endorsement is not None}
    return RosterAnswers(
        columns, {r.id: row_cells(columns, functions, r.answers, sealed=bool(r.sealed_answers)) for r in rows}, counts, question, answer,
        endorsements if endorsements or definition.nominator() is not None else None,
    )

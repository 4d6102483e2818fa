"""Where a registration's answers are kept: the plain ones in `answers`, the sensitive ones
(the form's `sensitive` questions) sealed together in `sealed_answers` with the data keys.
Every write of answers goes through `store_answers`; a reader that needs the sensitive ones
(the participant's own page and download, an organiser's audited reveal, an export that
names them) opens them with `all_answers` or `sensitive_answers`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from portal.models import Registration
from portal.questions.schema import FormDefinition
from portal.sealing import keyring_of


def split(sensitive: Iterable[str], answers: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain, sensitive): the answers under the sensitive keys apart from the rest."""
    keys = frozenset(sensitive)
    return {k: v for k, v in answers.items() if k not in keys}, {k: v for k, v in answers.items() if k in keys}


def store_answers(session: Session, registration: Registration, definition: FormDefinition, answers: dict[str, Any]) -> None:
    """Keep `answers` (every answer the registration has, plain and sensitive) on the
    registration: the sensitive ones sealed, the rest as they are. An answer sealed before
    stays sealed whatever the form now says (its event moved to another programme's form,
    say): only an organiser's unticking of the question (questions.store) opens it."""
    before = sensitive_answers(session, registration).keys()
    plain, sensitive = split(definition.sensitive_keys() | before, answers)
    registration.answers = plain
    registration.sealed_answers = keyring_of(session).seal_json(sensitive) if sensitive else None


def sensitive_answers(session: Session, registration: Registration) -> dict[str, Any]:
    """The sealed answers, opened ({} when there are none)."""
    if not registration.sealed_answers:
        return {}
    return keyring_of(session).open_json(registration.sealed_answers)


def all_answers(session: Session, registration: Registration) -> dict[str, Any]:
    """Every answer, the sealed ones opened: only for the participant themselves, or an
    organiser's recorded reveal or named export."""
    return {**(registration.answers or {}), **sensitive_answers(session, registration)}


"""Forms in the import file and out of it: what a programme or event record says of its form
(`form`, `organisation_required`), saved so that the answers already given keep their
meaning, and the form `portal export form` writes back in the same shape.

A record without `form` leaves the questions as they are; without `organisation_required` it
leaves that as it is. An owner that has no form of its own (a programme whose runs use the
site's default, an event that uses its programme's) gets one only when the record says
something the form that applies now does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import ImportProblem, InvalidInput, NotFound
from portal.models import Event, Programme
from portal.questions.schema import FormDefinition, FormDefinitionError
from portal.questions.store import Owner, definition, find_form, form_for_event, merge, save_form


@dataclass(frozen=True)
class FormSpec:
    """What one record of the file says of its form; None where it says nothing."""

    where: str  # the record, as complaints name it: "programmes[0] (code 'tatc')"
    questions: FormDefinition | None = None
    organisation_required: bool | None = None

    @property
    def says_something(self) -> bool:
        return self.questions is not None or self.organisation_required is not None


def save_from_file(session: Session, owner: Owner, spec: FormSpec, applies: FormDefinition) -> bool:
    """Save what `spec` says as the owner's form; whether the stored form changed. `applies`
    is the form the owner's registrants fill in now (its own, or the one it falls back to).
    A question removed from a form that has answers is retired; a change that would take an
    answer's meaning away is refused (ImportProblem naming the record and the question)."""
    if not spec.says_something:
        return False
    row = find_form(session, owner)
    current = definition(row) if row is not None else applies
    organisation_required = (
        current.organisation_required if spec.organisation_required is None else spec.organisation_required
    )
    if spec.questions is None:
        if row is None and organisation_required == applies.organisation_required:
            return False
        # Only the flag changes: the owner's own form starts as a copy of the one that applies.
        questions = current.questions
    else:
        questions = spec.questions.questions
    new = FormDefinition(questions, organisation_required)
    version = row.version if row is not None else None
    try:
        if row is None:
            # The owner's registrants answered the form that applied until now: a question of
            # it that the new form leaves out, answered, is kept retired like any other.
            new = merge(session, owner, applies, new, retire_removed=True)
        saved = save_form(session, None, owner, new, retire_removed=True)
    except FormDefinitionError as exc:
        raise ImportProblem(f"{spec.where}: {exc.message}") from None
    return saved.version != version


@dataclass(frozen=True)
class FormExport:
    """A form as `portal export form` writes it, and whose form it is, in words."""

    whose: str
    form: FormDefinition

    def to_json(self) -> dict[str, Any]:
        """The two keys a programme or event record of the import file holds its form in."""
        return {"organisation_required": self.form.organisation_required, "form": self.form.to_json()}


def form_to_export(session: Session, name: str) -> FormExport:
    """The form of the programme whose code, or the event whose slug, is `name` (either may
    be said with a prefix, `programme:CODE` or `event:SLUG`): a programme's own form, or the
    site's default its runs use; an event's form as it applies (its own, its programme's, or
    the default). NotFound when there is no such programme or event."""
    kind, _, bare = name.rpartition(":")
    if kind not in ("", "programme", "event"):
        raise NotFound(f"{name!r}: say programme:CODE or event:SLUG, or the code or slug alone")
    programme = session.scalar(select(Programme).where(Programme.code == bare)) if kind != "event" else None
    event = session.scalar(select(Event).where(Event.slug == bare)) if kind != "programme" else None
    if programme is not None and event is not None:
        raise InvalidInput(
            f"{bare!r} is both a programme's code and an event's slug: say programme:{bare} or event:{bare}"
        )
    if programme is not None:
        row = find_form(session, Owner(programme_id=programme.id))
        if row is None:
            default = find_form(session, Owner())
            whose = f"programme {bare!r}, which has no form of its own: the site's default form, which its events use"
            return FormExport(whose, definition(default))
        return FormExport(f"programme {bare!r}", definition(row))
    if event is not None:
        row = form_for_event(session, event)
        if row is None or (row.event_id is None and row.programme_id is None):
            whose = f"event {bare!r}: the site's default form, which it uses"
        elif row.event_id is not None:
            whose = f"event {bare!r}: its own form"
        else:
            code = session.scalar(select(Programme.code).where(Programme.id == row.programme_id))
            whose = f"event {bare!r}: the form of its programme {code!r}, which it uses"
        return FormExport(whose, definition(row))
    what = {"programme": "a programme's code", "event": "an event's slug"}.get(kind, "a programme's code nor an event's slug")
    raise NotFound(f"{bare!r} is {'neither ' if not kind else 'not '}{what}")

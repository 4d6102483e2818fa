"""The back office's form builder, as services: whose form a builder page shows, and each
change an organiser makes to it (add, replace, move, retire, delete a question; the
organisation rule; a copy of another form; an event's own form given or taken away).

Every change goes through store.save_form, so the rules that keep answers meaningful, the
version and the audit log apply to the builder as to an import. A page names the form by a
reference in its URL ("default", "programme-CODE", "event-SLUG") and sends back the stamp
of the form it showed: a change made from a page that is out of date (another organiser
changed the form meanwhile) is refused, as the question numbers it names may have moved.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.errors import InvalidInput, NotFound
from portal.models import Event, Programme, Questionnaire, event_by_slug, programme_by_code
from portal.questions import store
from portal.questions.schema import CONDITION_TYPES, FormDefinition, FormDefinitionError, Question, parse_form, without_place
from portal.questions.store import Owner

DEFAULT_REF = "default"
OUT_OF_DATE = "Someone changed this form after you opened it, so nothing was changed. Here it is now: check it and try again."
_PROGRAMME, _EVENT = "programme-", "event-"


@dataclass(frozen=True)
class Place:
    """Whose form a builder page is about."""

    ref: str
    owner: Owner
    programme: Programme | None = None
    event: Event | None = None

    @property
    def title(self) -> str:
        if self.event is not None:
            return f"Registration form of “{self.event.title}”"
        if self.programme is not None:
            return f"Registration form of {self.programme.name}"
        return "The site's default registration form"


def programme_ref(code: str) -> str:
    return _PROGRAMME + code


def event_ref(slug: str) -> str:
    return _EVENT + slug


def find_place(session: Session, ref: str) -> Place:
    """The owner a builder reference names, or NotFound."""
    if ref == DEFAULT_REF:
        return Place(ref, Owner())
    if ref.startswith(_PROGRAMME):
        programme = programme_by_code(session, ref[len(_PROGRAMME):])
        return Place(ref, Owner(programme_id=programme.id), programme=programme)
    if ref.startswith(_EVENT):
        event = event_by_slug(session, ref[len(_EVENT):])
        programme = session.get(Programme, event.programme_id) if event.programme_id is not None else None
        return Place(ref, Owner(event_id=event.id), programme=programme, event=event)
    raise NotFound("There is no such form.")


@dataclass(frozen=True)
class FormView:
    """A form as its builder page shows it. `own` is False when the owner has no form of its
    own and the page shows the one that applies instead (`inherited`: "programme" or
    "default"); a programme's first change then starts from a copy, an event must first be
    given its own form."""

    place: Place
    definition: FormDefinition
    row: Questionnaire | None
    own: bool
    inherited: str | None
    answered: frozenset[str]

    @property
    def stamp(self) -> str:
        return f"{self.row.id}.{self.row.version}" if self.row is not None else "none"

    @property
    def version(self) -> int:
        return self.row.version if self.row is not None else 0

    @property
    def editable(self) -> bool:
        return self.own or self.place.event is None

    def question(self, index: int) -> Question:
        if not 0 <= index < len(self.definition.questions):
            raise NotFound("This form has no such question: it may have been deleted or moved. Open the form again.")
        return self.definition.questions[index]

    def earlier_deciders(self, index: int) -> list[Question]:
        """The questions before `index` a condition may name (all of them for a new one): live
        choice, multiple-choice and yes/no questions. A retired one is asked of nobody, so a
        question shown on its answer would never be shown."""
        return [q for q in self.definition.questions[:index] if q.type in CONDITION_TYPES and not q.retired]


def _inherited_row(session: Session, place: Place) -> tuple[Questionnaire | None, str | None]:
    if place.event is not None and place.event.programme_id is not None:
        row = store.find_form(session, Owner(programme_id=place.event.programme_id))
        if row is not None:
            return row, "programme"
    if place.owner == Owner():
        return None, None
    return store.find_form(session, Owner()), "default"


def form_view(session: Session, ref: str, *, with_answers: bool = True) -> FormView:
    """What the builder page of `ref` shows, with the keys that have answers (which can be
    retired but not deleted)."""
    place = find_place(session, ref)
    row = store.find_form(session, place.owner)
    own, inherited = row is not None, None
    if row is None:
        row, inherited = _inherited_row(session, place)
    definition = store.definition(row)
    answered: frozenset[str] = frozenset()
    if with_answers:
        answered = store.answered_keys(session, place.owner, [q.key for q in definition.questions if q.asks])
    return FormView(place, definition, row, own, inherited, answered)


def _lock(session: Session, place: Place) -> None:
    """Hold the owner's form (or, while it has none, the owner) until the transaction ends,
    so two changes made at once are taken one after the other and the second finds the
    first's stamp: on PostgreSQL both would otherwise read the same version."""
    row = session.scalar(select(Questionnaire.id).where(place.owner.condition()).with_for_update())
    if row is not None:
        return
    if place.event is not None:
        session.execute(select(Event.id).where(Event.id == place.event.id).with_for_update())
    elif place.programme is not None:
        session.execute(select(Programme.id).where(Programme.id == place.programme.id).with_for_update())


def _current(session: Session, actor: Actor | None, ref: str, stamp: str) -> FormView:
    """The form a change applies to: refused if the page was out of date, or if it is an
    event's inherited form; a programme's inherited form becomes its own copy first."""
    _lock(session, find_place(session, ref))
    view = form_view(session, ref, with_answers=False)
    if stamp != view.stamp:
        raise InvalidInput(OUT_OF_DATE)
    if not view.editable:
        raise InvalidInput("This event uses its programme's form. Give it its own form first, or change the programme's form.")
    if not view.own:
        store.save_form(session, actor, view.place.owner, view.definition, action="form.copy")
    return view


def in_words(error: FormDefinitionError, items: list[dict[str, Any]], before: FormDefinition) -> FormDefinitionError:
    """The schema's or the store's refusal as the builder says it: the question named by its
    label (“Arrival date”: …) rather than its place and key (form[8] (key 'arrival'): …).
    `items` is the form that was refused, `before` the form as it was (a refusal may name a
    question the new form no longer has)."""
    detail = without_place(error)
    label = ""
    if error.key:
        label = next((str(i.get("label", "")) for i in items if i.get("key") == error.key), "")
        label = label or next((q.label for q in before.questions if q.key == error.key), "")
    if not label and error.index is not None and 0 <= error.index < len(items):
        label = str(items[error.index].get("label", ""))
    label = " ".join(label.split())
    if len(label) > 80:
        label = label[:79] + "…"
    words = f"“{label}”: {detail}" if label else detail[:1].upper() + detail[1:]
    if not words.endswith((".", "!", "?")):
        words += "."
    refusal = FormDefinitionError(words, index=error.index, key=error.key, field=error.field)
    refusal.detail = detail
    return refusal


def _store(
    session: Session, actor: Actor | None, owner: Owner, items: list[dict[str, Any]], before: FormDefinition,
    *, organisation_required: bool, **options: Any,
) -> Questionnaire:
    """store.save_form for the builder, its refusals in words (in_words)."""
    try:
        definition = parse_form(items, organisation_required=organisation_required)
        return store.save_form(session, actor, owner, definition, **options)
    except FormDefinitionError as exc:
        raise in_words(exc, items, before) from exc


def _save(session: Session, actor: Actor | None, view: FormView, items: list[dict[str, Any]], *, organisation_required: bool | None = None) -> Questionnaire:
    keep = view.definition.organisation_required if organisation_required is None else organisation_required
    return _store(session, actor, view.place.owner, items, view.definition, organisation_required=keep, retire_removed=False)


def _dependents(definition: FormDefinition, key: str | None) -> list[Question]:
    """The live questions shown only on an answer to the question `key`."""
    return [q for q in definition.questions if key and not q.retired and q.show_if and q.show_if[0] == key]


def question_names(questions: list[Question]) -> str:
    """“A”, “B” and “C” (and others, after three)."""
    named = [f"“{q.label}”" for q in questions[:3]]
    if len(questions) > 3:
        return ", ".join(named) + " and others"
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _refuse_while_depended_on(view: FormView, index: int, doing: str) -> None:
    """Refuse to retire or delete a question that other questions' conditions name: they
    would never be shown (or name nothing)."""
    question = view.question(index)
    dependents = _dependents(view.definition, question.key)
    if not dependents:
        return
    names = question_names(dependents)
    verb = "is" if len(dependents) == 1 else "are"
    whose = "its condition" if len(dependents) == 1 else "their conditions"
    refusal = FormDefinitionError(
        f"“{question.label}” cannot be {doing} while {names} {verb} shown only on an answer to it: "
        f"change or remove {whose} first.",
        index=index, key=question.key,
    )
    refusal.detail = refusal.message
    raise refusal


def _items(view: FormView) -> list[dict[str, Any]]:
    return [q.to_json() for q in view.definition.questions]


def add_question(session: Session, actor: Actor | None, ref: str, stamp: str, item: dict[str, Any]) -> int:
    """Add a question at the end of the form; its index."""
    view = _current(session, actor, ref, stamp)
    items = [*_items(view), item]
    _save(session, actor, view, items)
    return len(items) - 1


def replace_question(session: Session, actor: Actor | None, ref: str, stamp: str, index: int, item: dict[str, Any]) -> None:
    """Put `item` in place of question `index`, which keeps its place and whether it is
    retired. Its key cannot change once it has answers: they are kept under it."""
    view = _current(session, actor, ref, stamp)
    old = view.question(index)
    new_key = item.get("key") or ""
    if old.asks and old.key and new_key != old.key and store.answered(session, view.place.owner, old.key):
        refusal = FormDefinitionError(
            f"“{old.label}”: answers are kept under the key {old.key!r}, so it cannot change now",
            index=index, key=new_key or None, field="key",
        )
        refusal.detail = f"answers are kept under the key {old.key!r}, so it cannot change now"
        raise refusal
    items = _items(view)
    item = dict(item)
    if old.retired:
        item["retired"] = True
    items[index] = item
    _save(session, actor, view, items)


def move_question(session: Session, actor: Actor | None, ref: str, stamp: str, index: int, offset: int) -> bool:
    """Move question `index` one place up (-1) or down (+1); False at either end."""
    view = _current(session, actor, ref, stamp)
    view.question(index)
    target = index + offset
    if offset not in (-1, 1) or not 0 <= target < len(view.definition.questions):
        return False
    upper, lower = view.definition.questions[min(index, target)], view.definition.questions[max(index, target)]
    if lower.show_if and upper.key and lower.show_if[0] == upper.key:
        refusal = FormDefinitionError(
            f"“{lower.label}” is shown only on an answer to “{upper.label}”, so it must stay below it: "
            "change or remove its condition first.",
            index=index, key=view.definition.questions[index].key,
        )
        refusal.detail = refusal.message
        raise refusal
    items = _items(view)
    items[index], items[target] = items[target], items[index]
    _save(session, actor, view, items)
    return True


def set_retired(
    session: Session, actor: Actor | None, ref: str, stamp: str, index: int, retired: bool,
) -> tuple[Question, list[Question]]:
    """Retire question `index` (new registrants no longer see it; its answers stay) or bring
    it back; with the retired questions that depended on it, whose conditions go (as when
    store.save_form retires a question). Refused while a question still asked depends on it.
    A retired question is nobody's nominating officer's email."""
    view = _current(session, actor, ref, stamp)
    question = view.question(index)
    released: list[Question] = []
    items = _items(view)
    if retired:
        _refuse_while_depended_on(view, index, "retired")
        for n, other in enumerate(view.definition.questions):
            if other.retired and other.show_if and other.show_if[0] == question.key:
                released.append(other)
                items[n] = replace(other, show_if=None).to_json()
    changed = replace(question, retired=retired, nominator=question.nominator and not retired)
    items[index] = changed.to_json()
    _save(session, actor, view, items)
    return changed, released


def delete_question(session: Session, actor: Actor | None, ref: str, stamp: str, index: int) -> Question:
    """Delete question `index`: refused (by save_form) when it has answers."""
    view = _current(session, actor, ref, stamp)
    question = view.question(index)
    _refuse_while_depended_on(view, index, "deleted")
    items = _items(view)
    del items[index]
    _save(session, actor, view, items)
    return question


def set_organisation_required(session: Session, actor: Actor | None, ref: str, stamp: str, required: bool) -> None:
    view = _current(session, actor, ref, stamp)
    _save(session, actor, view, _items(view), organisation_required=required)


@dataclass(frozen=True)
class Source:
    ref: str
    label: str


def copy_sources(session: Session, ref: str) -> list[Source]:
    """The forms a form can be copied from: the default, every programme's and every event's
    own form, but not itself."""
    sources = [Source(DEFAULT_REF, "The site's default form")]
    for code, name in session.execute(
        select(Programme.code, Programme.name).join(Questionnaire, Questionnaire.programme_id == Programme.id).order_by(Programme.name)
    ):
        sources.append(Source(programme_ref(code), f"Programme: {name}"))
    for slug, title, starts_at in session.execute(
        select(Event.slug, Event.title, Event.starts_at).join(Questionnaire, Questionnaire.event_id == Event.id)
        .order_by(Event.starts_at.desc())
    ):
        sources.append(Source(event_ref(slug), f"Event: {title} ({starts_at:%b %Y})"))
    return [s for s in sources if s.ref != ref]


def copy_form(session: Session, actor: Actor | None, ref: str, source_ref: str) -> Questionnaire:
    """Make `ref`'s form a copy of `source_ref`'s (its questions and the organisation rule).
    Questions of the old form that have answers and that the copy lacks are kept, retired."""
    if source_ref == ref:
        raise InvalidInput("Choose another form to copy from.")
    source = form_view(session, source_ref, with_answers=False)
    place = find_place(session, ref)
    _lock(session, place)
    before = store.definition(store.find_form(session, place.owner))
    return _store(
        session, actor, place.owner, source.definition.to_json(), before,
        organisation_required=source.definition.organisation_required, action="form.copy",
    )


def _event_place(session: Session, ref: str) -> Place:
    place = find_place(session, ref)
    if place.event is None:
        raise NotFound("Only an event's form can be given or taken away.")
    return place


def give_event_form(session: Session, actor: Actor | None, ref: str) -> Questionnaire:
    """Give an event its own form, a copy of the one it uses (its programme's or the default)."""
    _lock(session, _event_place(session, ref))
    view = form_view(session, ref, with_answers=False)
    if view.own and view.row is not None:
        return view.row
    return store.save_form(session, actor, view.place.owner, view.definition, action="form.copy")


def use_programme_form(session: Session, actor: Actor | None, ref: str) -> bool:
    """Take an event's own form away (refused while it has answers): False if it had none."""
    place = _event_place(session, ref)
    assert place.event is not None
    return store.remove_event_form(session, actor, place.event)

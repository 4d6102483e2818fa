"""The form builder in the back office: a programme's form, an event's own form and the
site's default form, edited question by question with plain HTML forms (move up and down
are buttons), previewed as participants see it, and copied from another form.

A page names its form in the URL (questions/editing.py: "default", "programme-CODE",
"event-SLUG") and every change carries the stamp of the form the page showed, so a change
made from an out-of-date page is refused rather than applied to the wrong question.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.errors import InvalidInput
from portal.forms.builder import (
    SENSITIVE_SUGGESTED,
    TYPE_NAMES,
    CopyForm,
    MoveForm,
    NewQuestionForm,
    SettingsForm,
    question_data,
    question_form,
)
from portal.forms.fields import options
from portal.forms.registration import registration_form
from portal.questions import editing
from portal.questions.editing import FormView
from portal.questions.schema import FormDefinitionError, Question, condition_text
from portal.registrations.seats import places_taken
from portal.web.backoffice import access
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import ADMIN_PATH, actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import uow

_MOVED = {"up": "Moved up", "down": "Moved down"}


def _ref(request: Request) -> str:
    return request.path_params["form"]


def _back(request: Request, anchor: str = "") -> RedirectResponse:
    url = str(request.url_for("admin:show_form", form=_ref(request)))
    return RedirectResponse(url + (f"#{anchor}" if anchor else ""), status_code=303)


# --- a note on the question acted on ------------------------------------------------------
# After a change to one question the builder goes back to that question (its anchor), so a
# message at the top of the page would be off-screen: the note (done, or refused and why)
# is shown inside that question's block instead. It travels in a signed cookie of its own,
# for the next builder page of the same form only.

_NOTE_COOKIE = "portal_form_note"
_NOTE_PATH = ADMIN_PATH + "/forms"


def _notes(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(str(request.app.state.settings.secret_key), salt="portal.form-note")


def _to_question(request: Request, index: int, text: str, *, refused: bool = False) -> Response:
    """Back to question `index` of the builder page, with `text` shown on it."""
    response = _back(request, f"q-{index}")
    note = {"form": _ref(request), "index": index, "text": text[:600], "refused": refused}
    response.set_cookie(
        _NOTE_COOKIE, _notes(request).dumps(note), path=_NOTE_PATH, httponly=True, samesite="lax",
        secure=request.app.state.settings.https,
    )
    return response


def _take_note(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(_NOTE_COOKIE)
    if not raw:
        return None
    try:
        note = _notes(request).loads(raw)
    except BadSignature:
        return None
    if not isinstance(note, dict) or note.get("form") != _ref(request) or not isinstance(note.get("index"), int):
        return None
    return {"index": note["index"], "text": str(note.get("text", "")), "refused": bool(note.get("refused"))}


def _rows(view: FormView) -> list[dict[str, Any]]:
    definition = view.definition
    return [
        {
            "index": index, "question": q, "type_name": TYPE_NAMES.get(q.type, q.type),
            "answered": q.key in view.answered, "condition": condition_text(q, definition),
        }
        for index, q in enumerate(definition.questions)
    ]


@require_organiser
async def show_form(request: Request) -> Response:
    view = await uow(request, editing.form_view, _ref(request))
    settings = SettingsForm(data={"stamp": view.stamp, "organisation_required": view.definition.organisation_required})
    note = _take_note(request)
    # A note for a question that is gone (another organiser's change) is shown at the top.
    lost = note is not None and not 0 <= note["index"] < len(view.definition.questions)
    context = {
        "view": view, "rows": _rows(view), "new_question": NewQuestionForm(), "settings": settings,
        "note": None if lost else note, "top_note": note if lost else None,
    }
    response = page(request, "admin/form.html", context)
    if _NOTE_COOKIE in request.cookies:
        response.delete_cookie(_NOTE_COOKIE, path=_NOTE_PATH, httponly=True, samesite="lax", secure=request.app.state.settings.https)
    return response


def _question_page(
    request: Request, view: FormView, form: Any, *, index: int | None, question: Question | None,
    problem: str | None = None, status: int = 200, suggested: str | None = None,
) -> Response:
    """The page of one question's fields, for adding (`index` None) or editing it."""
    deciders = view.earlier_deciders(len(view.definition.questions) if index is None else index)
    context = {
        "view": view, "form": form, "index": index, "question": question, "kind": form.kind,
        "stamp": view.stamp,
        "type_name": TYPE_NAMES[form.kind], "deciders": deciders, "problem": problem,
        "answered": question is not None and question.key in view.answered, "suggested": suggested,
    }
    return page(request, "admin/form_question.html", context, status_code=status)


def _kind(request: Request) -> str | None:
    kind = request.query_params.get("type", "")
    return kind if kind in TYPE_NAMES else None


async def _save_question(
    request: Request, view: FormView, form: Any, stamp: str, index: int | None, question: Question | None,
) -> Response:
    """Validate the posted question and save it (added at the end, or in place of `index`)."""
    if not form.validate():
        return _question_page(request, view, form, index=index, question=question, status=422)
    if index is None and form.suggest_sensitive():
        # Nothing saved yet: the organiser sees the box ticked, and why, and sends again.
        return _question_page(request, view, form, index=index, question=question, suggested=SENSITIVE_SUGGESTED)
    item = form.item()
    try:
        if index is None:
            index = await uow(request, editing.add_question, actor(request), _ref(request), stamp, item, write=True)
            done = f"Added “{item['label'][:80]}”."
        else:
            await uow(request, editing.replace_question, actor(request), _ref(request), stamp, index, item, write=True)
            done = f"Saved “{item['label'][:80]}”."
    except FormDefinitionError as exc:
        problem = form.place_error(exc, index if index is not None else len(view.definition.questions))
        return _question_page(request, view, form, index=index, question=question, problem=problem, status=422)
    except InvalidInput as exc:
        # The form changed meanwhile. What was typed is kept when it still applies to the same
        # question (or is a new one, added at the end); otherwise the builder shows the form now.
        fresh = await uow(request, editing.form_view, _ref(request))
        now = fresh.definition.questions[index] if index is not None and index < len(fresh.definition.questions) else None
        if not fresh.editable or (index is not None and (now is None or question is None or (now.key, now.type) != (question.key, question.type))):
            return flash(request, _back(request), exc.message)
        return _question_page(request, fresh, form, index=index, question=now, problem=exc.message, status=409)
    return _to_question(request, index, done)


def _stamp(data: Any) -> str:
    stamp = data.get("stamp", "")
    return stamp[:40] if isinstance(stamp, str) else ""


_NOT_OWN = "This event uses its programme's form. Give it its own form first, or change the programme's form."


@require_organiser
async def add_question(request: Request) -> Response:
    data = await read_form(request) if request.method == "POST" else None
    view = await uow(request, editing.form_view, _ref(request))
    if not view.editable:
        raise InvalidInput(_NOT_OWN)
    kind = _kind(request)
    if kind is None:
        if data is not None:
            raise HTTPException(400, "Choose the type of question first.")
        return page(request, "admin/form_question_type.html", {"view": view, "new_question": NewQuestionForm()})
    form = question_form(kind)(data)
    form.offer_conditions(view.earlier_deciders(len(view.definition.questions)))
    if data is not None:
        return await _save_question(request, view, form, _stamp(data), None, None)
    return _question_page(request, view, form, index=None, question=None)


@require_organiser
async def edit_question(request: Request) -> Response:
    index = request.path_params["index"]
    data = await read_form(request) if request.method == "POST" else None
    view = await uow(request, editing.form_view, _ref(request))
    question = view.question(index)
    cls = question_form(question.type, editing=True)
    form = cls(data) if data is not None else cls(data=question_data(question))
    form.offer_conditions(view.earlier_deciders(index))
    if data is not None:
        if not view.editable:
            raise InvalidInput(_NOT_OWN)
        return await _save_question(request, view, form, _stamp(data), index, question)
    return _question_page(request, view, form, index=index, question=question)


async def _confirm_delete(request: Request, index: int, stamp: str) -> Response:
    """The page that asks before a question is deleted (the Delete button's first step)."""
    view = await uow(request, editing.form_view, _ref(request))
    if not view.editable:
        raise InvalidInput(_NOT_OWN)
    if stamp != view.stamp:
        return flash(request, _back(request), editing.OUT_OF_DATE)
    view.question(index)  # NotFound if there is no such question now
    row = _rows(view)[index]
    return page(request, "admin/form_question_delete.html", {"view": view, "row": row, "stamp": view.stamp})


@require_organiser
async def change_question(request: Request) -> Response:
    """Move up, move down, retire, bring back or delete one question (the buttons beside it).
    Delete asks first: the button shows a page that asks, whose button confirms."""
    index = request.path_params["index"]
    form = MoveForm(await read_form(request))
    if not form.validate():
        raise HTTPException(400, "That is not a change the form builder knows.")
    stamp, action, who, ref = form.stamp.data or "", form.action.data, actor(request), _ref(request)
    if action == "delete" and not form.confirmed.data:
        return await _confirm_delete(request, index, stamp)
    try:
        if action in _MOVED:
            moved = await uow(request, editing.move_question, who, ref, stamp, index, -1 if action == "up" else 1, write=True)
            target = index + (-1 if action == "up" else 1) if moved else index
            return _to_question(request, target, _MOVED[action] + "." if moved else "It is there already.")
        if action in ("retire", "unretire"):
            question, released = await uow(request, editing.set_retired, who, ref, stamp, index, action == "retire", write=True)
            words = (
                f"Retired “{question.label[:80]}”: new registrants no longer see it; its answers stay in the roster and exports."
                if action == "retire" else f"“{question.label[:80]}” is asked again."
            )
            if released:
                ending = "s" if len(released) == 1 else ""
                words += f" {editing.question_names(released)} (retired already) no longer depend{ending} on its answer."
            return _to_question(request, index, words)
        question = await uow(request, editing.delete_question, who, ref, stamp, index, write=True)
        return flash(request, _back(request), f"Deleted “{question.label[:80]}”.")
    except FormDefinitionError as exc:
        # Refused, nothing changed: said on the question the organiser acted on.
        return _to_question(request, index, exc.message, refused=True)
    except InvalidInput as exc:
        # The page was out of date (the questions may have moved): said at the top.
        return flash(request, _back(request), exc.message)


@require_organiser
async def update_form_settings(request: Request) -> Response:
    form = SettingsForm(await read_form(request))
    if not form.validate():
        raise HTTPException(400, "This form's page is out of date. Open it again.")
    try:
        await uow(
            request, editing.set_organisation_required, actor(request), _ref(request), form.stamp.data or "",
            bool(form.organisation_required.data), write=True,
        )
    except (FormDefinitionError, InvalidInput) as exc:
        return flash(request, _back(request), exc.message)
    words = "Registrants must now name their organisation." if form.organisation_required.data else "The organisation is now optional."
    return flash(request, _back(request), words)


@require_organiser
async def preview_form(request: Request) -> Response:
    """The form as participants see it: the public page's own form and partial, not sent."""
    view = await uow(request, editing.form_view, _ref(request), with_answers=False)
    event = view.place.event
    taken = await uow(request, places_taken, event.id) if event is not None else {}
    form = registration_form(view.definition)(taken=taken, phone_region=request.app.state.settings.phone_region)
    return page(request, "admin/form_preview.html", {"view": view, "form": form})


@require_organiser
async def copy_form(request: Request) -> Response:
    ref = _ref(request)
    view = await uow(request, editing.form_view, ref, with_answers=False)
    sources = await uow(request, editing.copy_sources, ref)
    # A programme manager copies only from their programmes' forms.
    shown = set(await uow(request, access.visible_forms, actor(request), [s.ref for s in sources]))
    sources = [s for s in sources if s.ref in shown]
    choices = options([(s.ref, s.label) for s in sources])
    status = 200
    if request.method == "POST":
        form = CopyForm(await read_form(request))
        form.source.choices = choices
        if form.validate():
            try:
                await uow(request, editing.copy_form, actor(request), ref, form.source.data or "", write=True)
            except (FormDefinitionError, InvalidInput) as exc:
                form.source.errors = [*form.source.errors, exc.message]
            else:
                label = next(s.label for s in sources if s.ref == form.source.data)
                return flash(request, _back(request), f"Copied the questions of {label}.")
        status = 422
    else:
        form = CopyForm()
        form.source.choices = choices
    return page(request, "admin/form_copy.html", {"view": view, "form": form}, status_code=status)


@require_organiser
async def give_event_form(request: Request) -> Response:
    await read_form(request)
    await uow(request, editing.give_event_form, actor(request), _ref(request), write=True)
    return flash(request, _back(request), "This event now has its own form, a copy of the one it used. Changes here apply to this event only.")


@require_organiser
async def use_programme_form(request: Request) -> Response:
    await read_form(request)
    try:
        removed = await uow(request, editing.use_programme_form, actor(request), _ref(request), write=True)
    except FormDefinitionError as exc:
        return flash(request, _back(request), exc.message)
    return flash(request, _back(request), "This event uses its programme's form again." if removed else "This event has no form of its own.")


routes = [
    Route("/forms/{form}", show_form, name="show_form"),
    Route("/forms/{form}/questions/new", add_question, name="add_question", methods=["GET", "POST"]),
    Route("/forms/{form}/questions/{index:int}", edit_question, name="edit_question", methods=["GET", "POST"]),
    Route("/forms/{form}/questions/{index:int}/change", change_question, name="change_question", methods=["POST"]),
    Route("/forms/{form}/settings", update_form_settings, name="update_form_settings", methods=["POST"]),
    Route("/forms/{form}/preview", preview_form, name="preview_form"),
    Route("/forms/{form}/copy", copy_form, name="copy_form", methods=["GET", "POST"]),
    Route("/forms/{form}/own", give_event_form, name="give_event_form", methods=["POST"]),
    Route("/forms/{form}/inherit", use_programme_form, name="use_programme_form", methods=["POST"]),
]

"""What organisers change on one registration besides its status (its details, internal
notes) and the walk-in added at the door; the rules are in registrations/organiser_edits.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.errors import InvalidTransition
from portal.forms.fields import first_error
from portal.forms.organiser_edits import DetailsEditForm, NoteForm, WalkInForm
from portal.registrations import organiser_edits
from portal.registrations.organiser_edits import Details, EmailTaken
from portal.rosters import door
from portal.templating import plural
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import site, uow

# The walk-in form's fields are named walk_in-name etc., apart from the door's other fields.
WALK_IN_PREFIX = "walk_in"


def _id(request: Request) -> int:
    return request.path_params["id"]


async def _edit_page(request: Request, form: DetailsEditForm, *, problem: str = "", taken: int | None = None, status_code: int = 200) -> Response:
    data = await uow(request, organiser_edits.edit_page, _id(request))
    context = {"data": data, "form": form, "problem": problem, "taken": taken}
    return page(request, "admin/registration_edit.html", context, status_code=status_code)


@require_organiser
async def edit_registration(request: Request) -> Response:
    data = await uow(request, organiser_edits.edit_page, _id(request))
    r = data.registration
    form = DetailsEditForm(data={"name": r.name, "email": r.email, "organisation": r.organisation})
    return page(request, "admin/registration_edit.html", {"data": data, "form": form, "problem": "", "taken": None})


@require_organiser
async def update_details(request: Request) -> Response:
    form = DetailsEditForm(await read_form(request))
    if not form.validate():
        return await _edit_page(request, form, status_code=422)
    details = Details(form.name.data or "", form.email.data or "", form.organisation.data or "")
    try:
        changed = await uow(request, organiser_edits.edit_details, actor(request), _id(request), details, site=site(request), write=True)
    except EmailTaken as exc:
        return await _edit_page(request, form, problem=exc.message, taken=exc.registration_id, status_code=409)
    back = RedirectResponse(request.url_for("admin:show_registration", id=_id(request)), status_code=303)
    if not changed:
        return flash(request, back, "Nothing changed.")
    if "email" in changed:
        return flash(request, back, f"Saved: {', '.join(changed)}. The old private link no longer works: the new address was emailed its new link, and nothing else.")
    return flash(request, back, f"Saved: {', '.join(changed)}. The participant was not emailed.")


@require_organiser
async def add_note(request: Request) -> Response:
    form = NoteForm(await read_form(request))
    back = RedirectResponse(f"{request.url_for('admin:show_registration', id=_id(request))}#notes", status_code=303)
    if not form.validate():
        return flash(request, back, f"The note was not added: {form.text.errors[0]}")
    await uow(request, organiser_edits.add_note, actor(request), _id(request), form.text.data or "", write=True)
    return flash(request, back, "Note added. Only organisers see it.")


@require_organiser
async def add_walk_in(request: Request) -> Response:
    slug = request.path_params["slug"]
    form = WalkInForm(await read_form(request), prefix=WALK_IN_PREFIX)
    door = RedirectResponse(request.url_for("admin:check_in", slug=slug), status_code=303)
    if not form.validate():
        return await _walk_in_page(request, form, status_code=422)
    details = Details(form.name.data or "", form.email.data or "", form.organisation.data or "")
    try:
        done = await uow(
            request, organiser_edits.add_walk_in, site(request), actor(request), slug, details,
            over_capacity=bool(form.over_capacity.data), write=True,
        )
    except InvalidTransition as exc:
        return flash(request, door, exc.message)
    if done.registration is None:
        return await _walk_in_page(request, form, result=done, status_code=409)
    r = done.registration
    messages = [f"Added and checked in: {r.name}. Their confirmation, with their ticket and manage link, was emailed to {r.email}."]
    if done.over_capacity:
        messages.append(f"Admitted over capacity: {done.confirmed} confirmed of {plural(done.capacity or 0, 'seat')}. This is in the audit log.")
    return flash(request, door, *messages)


async def _walk_in_page(request: Request, form: WalkInForm, *, result: organiser_edits.WalkIn | None = None, status_code: int) -> Response:
    data = await uow(request, door.check_in_list, request.path_params["slug"], "", limit=0)
    context = {"data": data, "form": form, "result": result, "problem": first_error(form) if form.errors else ""}
    return page(request, "admin/walk_in.html", context, status_code=status_code)


routes = [
    Route("/registrations/{id:int}/edit", edit_registration, name="edit_registration", methods=["GET"]),
    Route("/registrations/{id:int}/edit", update_details, name="update_details", methods=["POST"]),
    Route("/registrations/{id:int}/notes", add_note, name="add_note", methods=["POST"]),
    Route("/events/{slug}/walk-in", add_walk_in, name="add_walk_in", methods=["POST"]),
]

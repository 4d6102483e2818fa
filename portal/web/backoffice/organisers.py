"""Organiser accounts in the back office: admins list, add, deactivate and promote them."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.accounts import organisers
from portal.errors import AlreadyExists, InvalidInput, NotAllowed
from portal.forms.accounts import OrganiserChangeForm, OrganiserForm
from portal.web.backoffice.auth import require_admin
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import uow

_DONE = {
    "make_admin": "is now an admin",
    "remove_admin": "is no longer an admin",
    "deactivate": "is deactivated and signed out everywhere",
    "reactivate": "can sign in again",
}


async def _list_page(request: Request, form: OrganiserForm, problem: str | None = None, status_code: int = 200) -> Response:
    accounts = await uow(request, organisers.list_organisers)
    return page(request, "admin/organisers.html", {"accounts": accounts, "form": form, "problem": problem}, status_code=status_code)


@require_admin
async def list_organisers(request: Request) -> Response:
    return await _list_page(request, OrganiserForm())


@require_admin
async def add_organiser(request: Request) -> Response:
    form = OrganiserForm(await read_form(request))
    if not form.validate():
        return await _list_page(request, form, status_code=422)
    try:
        added = await uow(
            request, organisers.add_organiser, form.email.data or "", form.password.data or "",
            name=form.name.data or "", is_admin=bool(form.is_admin.data), actor=actor(request), write=True,
        )
    except (InvalidInput, AlreadyExists) as exc:
        return await _list_page(request, form, exc.message, exc.status_code)
    response = RedirectResponse(request.url_for("admin:list_organisers"), status_code=303)
    return flash(request, response, f"Added {added.email}. Give them their first password in person or by phone, not by email.")


@require_admin
async def update_organiser(request: Request) -> Response:
    form = OrganiserChangeForm(await read_form(request))
    if not form.validate():
        raise HTTPException(400, "That is not a change the portal knows.")
    response = RedirectResponse(request.url_for("admin:list_organisers"), status_code=303)
    try:
        changed = await uow(request, organisers.update_organiser, actor(request), request.path_params["id"], form.change.data, write=True)
    except NotAllowed as exc:
        return flash(request, response, exc.message)
    return flash(request, response, f"{changed.email} {_DONE[form.change.data]}.")


routes = [
    Route("/organisers", list_organisers, name="list_organisers", methods=["GET"]),
    Route("/organisers", add_organiser, name="add_organiser", methods=["POST"]),
    Route("/organisers/{id:int}", update_organiser, name="update_organiser", methods=["POST"]),
]

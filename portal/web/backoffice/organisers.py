"""Organiser accounts in the back office: admins list, add, deactivate and promote them, and
give them their roles (access.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.accounts import organisers
from portal.catalogue.programmes import list_programmes
from portal.errors import AlreadyExists, InvalidInput, NotAllowed, NotFound
from portal.forms.accounts import OrganiserChangeForm, OrganiserForm
from portal.forms.fields import options
from portal.models import Organiser, OrganiserRole, Programme
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


def _account_lists(session: Session) -> tuple[list[Organiser], dict[int, list[str]], list[Programme]]:
    return organisers.list_organisers(session), organisers.programmes_by_organiser(session), list_programmes(session)


async def _list_page(request: Request, form: OrganiserForm, problem: str | None = None, status_code: int = 200) -> Response:
    accounts, held, programmes = await uow(request, _account_lists)
    form.programmes.choices = options([(p.code, p.name) for p in programmes])
    context = {
        "accounts": accounts, "held": held, "programmes": programmes, "form": form, "problem": problem,
        "roles": organisers.ROLE_WORDS,
    }
    return page(request, "admin/organisers.html", context, status_code=status_code)


@require_admin
async def list_organisers(request: Request) -> Response:
    return await _list_page(request, OrganiserForm())


def _programmes_for(role: str | None, codes: list[str] | None) -> list[str]:
    """The programmes ticked, for a programme manager only: boxes left ticked while another
    role was chosen are not meant."""
    return list(codes or []) if role == OrganiserRole.PROGRAMME_MANAGER else []


@require_admin
async def add_organiser(request: Request) -> Response:
    form = OrganiserForm(await read_form(request))
    programmes = await uow(request, list_programmes)
    form.programmes.choices = options([(p.code, p.name) for p in programmes])
    if not form.validate():
        return await _list_page(request, form, status_code=422)
    try:
        added = await uow(
            request, organisers.add_organiser, form.email.data or "", form.password.data or "",
            name=form.name.data or "", is_admin=bool(form.is_admin.data), role=form.role.data or OrganiserRole.ORGANISER,
            programmes=_programmes_for(form.role.data, form.programmes.data), actor=actor(request), write=True,
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
    role = form.role.data or ""
    try:
        changed = await uow(
            request, organisers.update_organiser, actor(request), request.path_params["id"], form.change.data,
            role=role, programmes=_programmes_for(role, form.programmes.data), write=True,
        )
    except (NotAllowed, InvalidInput) as exc:
        return flash(request, response, exc.message)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    if form.change.data == "set_role":
        return flash(request, response, f"{changed.email}: {organisers.ROLE_WORDS[OrganiserRole(changed.role)]}")
    return flash(request, response, f"{changed.email} {_DONE[form.change.data]}.")


routes = [
    Route("/organisers", list_organisers, name="list_organisers", methods=["GET"]),
    Route("/organisers", add_organiser, name="add_organiser", methods=["POST"]),
    Route("/organisers/{id:int}", update_organiser, name="update_organiser", methods=["POST"]),
]

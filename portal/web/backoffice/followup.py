"""An event's follow-up page, and announcing an event to its subscribers again."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.catalogue import eventmail, followup
from portal.errors import InvalidInput, InvalidTransition
from portal.forms.followup import FollowupForm
from portal.mail.letters import PLACEHOLDERS
from portal.mail.planner import FOLLOWUP_STALE
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import uow


def _back_to_event(request: Request, slug: str) -> RedirectResponse:
    return RedirectResponse(request.url_for("admin:show_event", slug=slug), status_code=303)


@require_organiser
async def edit_followup(request: Request) -> Response:
    slug = request.path_params["slug"]
    state = await uow(request, followup.followup_state, slug)
    problem, status = None, 200
    if request.method == "POST":
        form = FollowupForm(await read_form(request))
        if form.validate():
            try:
                after, subject = form.after_duration(), form.subject.data or ""
                await uow(request, followup.set_followup, actor(request), slug, after, subject, form.text(), write=True)
            except InvalidInput as exc:
                problem, status = exc.message, 422
            except InvalidTransition as exc:
                problem, status = exc.message, exc.status_code
            else:
                return flash(request, _back_to_event(request, slug), "The follow-up is saved.")
        else:
            status = 422
    else:
        form = FollowupForm(data=dict(state.followup) if state.followup else None)
    context = {
        "state": state, "event": state.event, "form": form, "problem": problem, "placeholders": PLACEHOLDERS,
        "stale_days": FOLLOWUP_STALE.days,
    }
    return page(request, "admin/followup.html", context, status_code=status)


@require_organiser
async def remove_followup(request: Request) -> Response:
    slug = request.path_params["slug"]
    await read_form(request)
    try:
        await uow(request, followup.remove_followup, actor(request), slug, write=True)
    except InvalidTransition as exc:
        return flash(request, RedirectResponse(request.url_for("admin:edit_followup", slug=slug), status_code=303), exc.message)
    return flash(request, _back_to_event(request, slug), "The follow-up is removed: nothing is sent after the event.")


@require_organiser
async def announce_again(request: Request) -> Response:
    slug = request.path_params["slug"]
    await read_form(request)
    response = _back_to_event(request, slug)
    try:
        await uow(request, eventmail.announce_again, actor(request), slug, write=True)
    except InvalidTransition as exc:
        return flash(request, response, exc.message)
    return flash(request, response, "The event is being announced again to its subscribers. This was its one re-announcement.")


routes = [
    Route("/events/{slug}/followup", edit_followup, name="edit_followup", methods=["GET", "POST"]),
    Route("/events/{slug}/followup/remove", remove_followup, name="remove_followup", methods=["POST"]),
    Route("/events/{slug}/announce-again", announce_again, name="announce_again", methods=["POST"]),
]

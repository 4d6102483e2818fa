"""An event's follow-up page (set it, confirm sending one whose time has passed, send a test
of it to oneself), and announcing an event to its subscribers again (after a confirmation)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.catalogue import eventmail, followup
from portal.catalogue.reminders import MAX_BODY, MAX_SUBJECT
from portal.errors import InvalidInput, InvalidTransition
from portal.forms.followup import FollowupForm
from portal.mail.letters import PLACEHOLDERS
from portal.mail.planner import FOLLOWUP_STALE
from portal.rosters import messages
from portal.templating import plural
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import site, uow

# Fields the page writes itself: a bad value in one is a damaged form, not a typing slip.
_HIDDEN = ("action", "confirm")


def _back_to_event(request: Request, slug: str) -> RedirectResponse:
    return RedirectResponse(request.url_for("admin:show_event", slug=slug), status_code=303)


async def _send_test(request: Request, state: followup.FollowupState, form: FollowupForm) -> str:
    """Queue the follow-up as typed to the organiser, as its first recipient would get it
    (the organisers' messages' test: rosters.messages.send_test); the note that says so."""
    if not state.recipients:
        raise InvalidInput(
            "Nobody would get the follow-up now (no one is confirmed), so there is no one to show it as: "
            "a test can be sent once someone is."
        )
    shown = await uow(
        request, messages.send_test, site(request), actor(request), state.event.slug, form.subject.data or "", form.text(),
        state.audience, kind="followup_test", limits=(MAX_SUBJECT, MAX_BODY), write=True,
    )
    return f"A test is on its way to {actor(request).email}, as {shown.name} would get it."


def _saved(confirmed: int | None) -> str:
    if confirmed is None:
        return "The follow-up is saved."
    if not confirmed:
        return "The follow-up is saved. Its time has passed and no one is confirmed, so it goes to nobody."
    return f"The follow-up is saved. It goes out within a minute to {plural(confirmed, 'person', 'people')}."


@require_organiser
async def edit_followup(request: Request) -> Response:
    slug = request.path_params["slug"]
    state = await uow(request, followup.followup_state, slug)
    problem, note, confirm, status = None, None, None, 200
    if request.method == "POST":
        form = FollowupForm(await read_form(request))
        valid = form.validate()
        if any(form.errors.get(name) for name in _HIDDEN):
            raise HTTPException(400, "This form is damaged. Open the follow-up page again from the event's page.")
        if valid:
            try:
                if form.testing():
                    note = await _send_test(request, state, form)
                else:
                    after, subject = form.after_duration(), form.subject.data or ""
                    await uow(
                        request, followup.set_followup, actor(request), slug, after, subject, form.text(),
                        send_now=form.confirmed(), write=True,
                    )
            except followup.SendsAtOnce as exc:
                # Nothing saved: the page asks to confirm, saying to how many it goes.
                confirm = exc
            except InvalidInput as exc:
                problem, status = exc.message, 422
            except InvalidTransition as exc:
                problem, status = exc.message, exc.status_code
            else:
                if note is None:
                    return flash(request, _back_to_event(request, slug), _saved(form.confirmed()))
        else:
            status = 422
    else:
        form = FollowupForm(data=dict(state.followup) if state.followup else None)
    context = {
        "state": state, "event": state.event, "form": form, "problem": problem, "note": note, "confirm": confirm,
        "placeholders": PLACEHOLDERS, "stale_days": FOLLOWUP_STALE.days,
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
    """GET: how many subscribers announcing again reaches, and a button; POST: do it."""
    slug = request.path_params["slug"]
    if request.method != "POST":
        reach = await uow(request, eventmail.announce_again_reach, slug)
        return page(request, "admin/announce_again.html", {"reach": reach})
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
    Route("/events/{slug}/announce-again", announce_again, name="announce_again", methods=["GET", "POST"]),
]

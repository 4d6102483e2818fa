"""Organisers' messages to their registrants: the event's history of them, and the compose
page, whose three buttons preview the message as its first recipient gets it, send a test to
the organiser, and send it."""

from __future__ import annotations

import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.errors import InvalidInput
from portal.forms.messages import STATUS_LABELS, MessageForm
from portal.rosters import messages
from portal.templating import plural
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import site, uow

# Fields the page writes itself: a bad value in one is a damaged form, not a typing slip.
_HIDDEN = ("nonce", "expected", "action")


def _nonce() -> str:
    return secrets.token_urlsafe(24)


@require_organiser
async def list_messages(request: Request) -> Response:
    data = await uow(request, messages.message_history, request.path_params["slug"])
    return page(request, "admin/messages.html", {"data": data})


async def _act(request: Request, slug: str, form: MessageForm) -> Response | messages.Preview:
    """Preview, test or send a valid form: the preview to show, or the redirect after sending."""
    who, subject, body, audience = actor(request), form.subject.data or "", form.body.data or "", form.audience()
    if form.action.data == "test":
        return await uow(request, messages.send_test, site(request), who, slug, subject, body, audience, write=True)
    if form.action.data != "send":
        return await uow(request, messages.preview, site(request), slug, subject, body, audience)
    sent = await uow(
        request, messages.send_message, site(request), who, slug, subject, body, audience, form.nonce.data or "",
        expected=form.expected_count(), write=True,
    )
    people = plural(sent.recipients, "person", "people")
    return flash(
        request, RedirectResponse(request.url_for("admin:list_messages", slug=slug), status_code=303),
        f"Your message \u201c{sent.subject}\u201d is being sent to {people}, each their own email. "
        "The counts below grow as the emails go out.",
    )


@require_organiser
async def new_message(request: Request) -> Response:
    slug = request.path_params["slug"]
    shown: messages.Preview | None = None
    problem, note, status = None, None, 200
    if request.method == "POST":
        form = MessageForm(await read_form(request))
        data = await uow(request, messages.message_form_data, slug, form.audience())
        form.with_questions(data.questions)
        valid = form.validate()
        if any(form.errors.get(name) for name in _HIDDEN):
            raise HTTPException(400, "This form is damaged. Open \u201cWrite a message\u201d again from the event's messages.")
        if not valid:
            status = 422
        else:
            try:
                done = await _act(request, slug, form)
            except InvalidInput as exc:
                problem, status = exc.message, 422
            else:
                if isinstance(done, Response):
                    return done
                shown = done
                if form.action.data == "test":
                    note = f"A test is on its way to {actor(request).email}, as {shown.name} will get it."
    else:
        data = await uow(request, messages.message_form_data, slug)
        form = MessageForm(data={"statuses": data.statuses}).with_questions(data.questions)
    # The same nonce for every preview and test of this form; a new one only if it had none.
    form.nonce.data = form.nonce.data or _nonce()
    count = shown.count if shown is not None else data.count
    form.expected.data = "" if count is None else str(count)
    context = {
        "data": data, "form": form, "shown": shown, "problem": problem, "note": note, "count": count,
        "status_labels": dict(STATUS_LABELS),
    }
    return page(request, "admin/message_new.html", context, status_code=status)


routes = [
    Route("/events/{slug}/messages", list_messages, name="list_messages"),
    Route("/events/{slug}/messages/new", new_message, name="new_message", methods=["GET", "POST"]),
]

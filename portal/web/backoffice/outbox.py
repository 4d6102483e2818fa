"""The outbox in the back office: what was sent, what waits, what failed and why; resend."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.errors import InvalidTransition
from portal.mail import backoffice as outbox
from portal.mail.outbox import MAX_ATTEMPTS
from portal.models import MessageStatus
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.params import page_number, text_param
from portal.web.plumbing import uow

PER_PAGE = 50


def _status(value: object) -> MessageStatus | None:
    try:
        return MessageStatus(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


@require_organiser
async def list_outbox(request: Request) -> Response:
    status = _status(request.query_params.get("status"))
    q, number = text_param(request, "q"), page_number(request)
    data = await uow(request, outbox.list_messages, status=status, q=q, page=number, per_page=PER_PAGE)
    settings = request.app.state.settings
    # As create_app's lifespan decides: without a mail server, `portal serve` itself delivers
    # the outbox to its log, and no worker is needed.
    to_log = settings.deliver_in_process and settings.smtp_url is None
    return page(request, "admin/outbox.html", {"data": data, "max_attempts": MAX_ATTEMPTS, "to_log": to_log})


@require_organiser
async def resend_message(request: Request) -> Response:
    form = await read_form(request)
    back = request.url_for("admin:list_outbox")
    status = _status(form.get("status"))
    if status is not None:
        back = back.include_query_params(status=status.value)
    response = RedirectResponse(back, status_code=303)
    try:
        message = await uow(request, outbox.requeue, actor(request), request.path_params["id"], write=True)
    except InvalidTransition as exc:
        return flash(request, response, exc.message)
    return flash(request, response, f"The message to {message.to_address} is queued to be sent again.")


routes = [
    Route("/outbox", list_outbox, name="list_outbox"),
    Route("/outbox/{id:int}/resend", resend_message, name="resend_message", methods=["POST"]),
]

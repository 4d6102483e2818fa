"""Personal data in the back office: anonymising an ended event's registrations now, before
their retention period is over (registrations.retention)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.errors import InvalidTransition
from portal.registrations import retention, uploads
from portal.templating import plural
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import uow


@require_organiser
async def anonymise_event(request: Request) -> Response:
    slug = request.path_params["slug"]
    settings = request.app.state.settings
    if request.method == "POST":
        await read_form(request)
        back = RedirectResponse(request.url_for("admin:show_event", slug=slug), status_code=303)
        try:
            done = await uow(request, retention.anonymise_event, actor(request), slug, write=True)
        except InvalidTransition as exc:
            return flash(request, back, exc.message)
        await run_in_threadpool(uploads.discard, settings.upload_directory, done.stored_files)
        if not done.count:
            return flash(request, back, "Nothing was anonymised: every registration of this event is anonymised already.")
        return flash(request, back, f"Anonymised {plural(done.count, 'registration')}.")
    preview = await uow(request, retention.event_anonymisation, slug, settings.retention)
    return page(request, "admin/event_anonymise.html", {"preview": preview, "event": preview.event})


routes = [
    Route("/events/{slug}/anonymise", anonymise_event, name="anonymise_event", methods=["GET", "POST"]),
]

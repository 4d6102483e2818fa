"""Name badges in the back office: an event's badges as a PDF download."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.documents.badges import badges_pdf
from portal.forms.badges import BadgesForm
from portal.forms.fields import first_error
from portal.rosters.badges import NoBadges, event_badges
from portal.rosters.data_access import record_badges
from portal.web.backoffice.auth import require_organiser_download
from portal.web.backoffice.base import actor, flash
from portal.web.plumbing import uow


@require_organiser_download
async def download_badges(request: Request) -> Response:
    form = BadgesForm(request.query_params)
    if not form.validate():
        raise HTTPException(400, f"This badges link has a value the portal does not understand ({first_error(form)}). Open the event again.")
    # A writing transaction: a confirmed registration without a check-in code gets one.
    try:
        found = await uow(request, event_badges, request.path_params["slug"], form.selection(), write=True)
    except NoBadges as exc:  # back to the event page, which says so
        back = RedirectResponse(request.url_for("admin:show_event", slug=request.path_params["slug"]), status_code=303)
        return flash(request, back, exc.message)
    # Drawn outside the transaction, in the thread pool: 500 badges take a few seconds.
    pdf = await run_in_threadpool(badges_pdf, found.badges, form.layout.data)
    await uow(request, record_badges, actor(request), found.slug, len(found.badges), len(pdf), form.layout.data, write=True)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{found.filename(form.layout.data)}"', "X-Content-Type-Options": "nosniff",
    })


routes = [
    Route("/events/{slug}/badges.pdf", download_badges, name="download_badges"),
]

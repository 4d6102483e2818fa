"""The roster's column picker: a page of checkboxes for the columns of an event's roster
table, kept per organiser for every event's roster (rosters/columns.py). A page of its own,
linked from the roster, so that the roster's own labels (Status, Email…) stay unique there."""

from __future__ import annotations

from starlette.datastructures import FormData, QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.forms.rosters import RosterQueryForm
from portal.rosters import columns
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import uow


def _roster_params(values: FormData | QueryParams) -> dict[str, str]:
    """The roster's filter and sort to return to; a damaged one is dropped, not refused."""
    shown = RosterQueryForm(values)
    return shown.link_params() if shown.validate() else {}


@require_organiser
async def choose_roster_columns(request: Request) -> Response:
    slug = request.path_params["slug"]
    if request.method == "POST":
        form = await read_form(request)
        chosen = await uow(request, columns.choose_roster_columns, actor(request).id, form.getlist("column"), write=True)
        back = request.url_for("admin:show_event", slug=slug).include_query_params(**_roster_params(form))
        response = RedirectResponse(f"{back}#roster-heading", status_code=303)
        if chosen.default:
            return flash(request, response, "The roster shows the usual columns.")
        return flash(request, response, "The roster shows the columns you chose, on every event.")
    event, chosen = await uow(request, columns.column_picker, actor(request).id, slug)
    params = _roster_params(request.query_params)
    context = {
        "event": event, "columns": chosen, "params": params,
        "back_url": request.url_for("admin:show_event", slug=slug).include_query_params(**params),
    }
    return page(request, "admin/roster_columns.html", context)


routes = [
    Route("/events/{slug}/columns", choose_roster_columns, name="choose_roster_columns", methods=["GET", "POST"]),
]

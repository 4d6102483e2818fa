"""The data-access log in the back office, for admins: who exported or revealed personal data
in a period, page by page, and the same as a CSV file."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.rosters import data_access
from portal.rosters.exports import FORMATS
from portal.web.backoffice.auth import require_admin
from portal.web.backoffice.base import page
from portal.web.params import date_param, page_number
from portal.web.plumbing import uow


def _period(request: Request) -> data_access.Period:
    """The period a link asks for, in the site's zone; a 400 for a date that is none."""
    return data_access.period(request.app.state.settings.timezone, date_param(request, "from"), date_param(request, "to"))


@require_admin
async def show_data_access(request: Request) -> Response:
    period = _period(request)
    log = await uow(request, data_access.access_log, period, page=page_number(request))
    links = {"from": period.start.isoformat(), "to": period.end.isoformat()}
    context = {"log": log, "links": links, "actions": data_access.ACTIONS}
    return page(request, "admin/data_access.html", context)


@require_admin
async def export_data_access(request: Request) -> Response:
    period = _period(request)
    body = await uow(request, data_access.access_log_csv, period)
    filename = f"data-access-{period.start.isoformat()}-to-{period.end.isoformat()}.csv"
    return Response(body, media_type=FORMATS["csv"], headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff",
    })


routes = [
    Route("/data-access", show_data_access, name="show_data_access"),
    Route("/data-access.csv", export_data_access, name="export_data_access"),
]

"""Subscribers to new events in the back office: counts, a searchable list, the CSV export and
removal. Open to every organiser, as the outbox is (both show addresses that email goes to)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from portal.db import utcnow
from portal.rosters import data_access
from portal.rosters.exports import FORMATS, csv_chunks
from portal.subscriptions import admin
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, flash, page
from portal.web.csrf import read_form
from portal.web.params import page_number, text_param
from portal.web.plumbing import uow

PER_PAGE = 50


@require_organiser
async def list_subscribers(request: Request) -> Response:
    q = text_param(request, "q")
    data = await uow(request, admin.list_subscribers, q=q, page=page_number(request), per_page=PER_PAGE)
    return page(request, "admin/subscribers.html", {"data": data})


def _subscriber_chunks(timezone: str) -> Callable[[Session, Callable[[int], None]], Iterator[bytes]]:
    def chunks(session: Session, counted: Callable[[int], None]) -> Iterator[bytes]:
        def batches() -> Iterator[list[list[str]]]:
            rows = -1  # the header is no subscriber
            for batch in admin.export_rows(session, timezone):
                rows += len(batch)
                counted(max(rows, 0))
                yield batch

        return csv_chunks(batches())

    return chunks


@require_organiser
async def export_subscribers(request: Request) -> Response:
    settings = request.app.state.settings
    filename = f"subscribers-{utcnow():%Y-%m-%d}.csv"
    # One read transaction for the whole file (a consistent snapshot, streamed), then the
    # export recorded in the data-access log with its rows and bytes.
    stream = data_access.recorded_export_stream(
        request.app.state.sessions, actor(request), data_access.EXPORT_SUBSCRIBERS, None,
        _subscriber_chunks(settings.timezone), format="csv",
    )
    return StreamingResponse(
        stream,
        media_type=FORMATS["csv"],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff"},
    )


@require_organiser
async def remove_subscriber(request: Request) -> Response:
    """GET (the list's Remove link, or the page reloaded) or an unconfirmed POST: the page
    that asks; a POST with confirmed=yes: remove."""
    subscriber_id = request.path_params["id"]
    form = await read_form(request) if request.method == "POST" else {}
    back = RedirectResponse(request.url_for("admin:list_subscribers"), status_code=303)
    if form.get("confirmed") != "yes":
        found = await uow(request, admin.subscriber, subscriber_id)
        return page(request, "admin/subscriber_remove.html", {"subscriber": found})
    await uow(request, admin.remove_subscriber, actor(request), subscriber_id, write=True)
    return flash(request, back, "The subscriber is removed: nothing more is sent to that address.")


routes = [
    Route("/subscribers", list_subscribers, name="list_subscribers"),
    Route("/subscribers/export.csv", export_subscribers, name="export_subscribers"),
    Route("/subscribers/{id:int}/remove", remove_subscriber, name="remove_subscriber", methods=["GET", "POST"]),
]

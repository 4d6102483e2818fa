"""What every handler uses: the unit of work, template rendering, the services' Site, and
public routes whose paths come from site.PATHS."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from portal.db import run_unit_of_work
from portal.questions.schema import UPLOAD_TYPES
from portal.registrations.uploads import Download
from portal.site import PATHS, Site

T = TypeVar("T")

# For pages whose address holds a private token: never kept by a cache, never indexed.
PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


async def uow(request: Request, fn: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any) -> T:
    """Run a service in one transaction, in the thread pool, and return what it returned."""
    state = request.app.state
    call = partial(
        run_unit_of_work, state.sessions, fn, *args, write=write, on_commit=state.changes.local_write, **kwargs
    )
    return await run_in_threadpool(call)


def site(request: Request) -> Site:
    return request.app.state.site


def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return request.app.state.templates.TemplateResponse(request, template, context or {}, status_code=status_code, headers=headers)


def etag_matches(request: Request, etag: str) -> bool:
    """Whether the request's If-None-Match names `etag` (among several, or as `*`), compared
    weakly as RFC 9110 says for a GET."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def public_route(name: str, endpoint: Callable[..., Any], **options: Any) -> Route:
    """A public route named `name` at its path in site.PATHS, where services build its links
    (emails, feeds) from the same name."""
    return Route(PATHS[name], endpoint, name=name, **options)


def send_upload(download: Download, headers: dict[str, str] | None = None) -> Response:
    """A file a participant sent (uploads.download_for_*: found, and opened if it is kept
    sealed), always as a download (never shown in the browser, whatever it holds), typed
    only as one of the types a question may accept."""
    media_type = download.content_type if download.content_type in UPLOAD_TYPES else "application/octet-stream"
    headers = {**(headers or {}), "X-Content-Type-Options": "nosniff"}
    if download.content is None:
        return FileResponse(
            download.path, media_type=media_type, filename=download.filename, content_disposition_type="attachment", headers=headers,
        )
    # The opened bytes of a sealed file, named as FileResponse names a file.
    quoted = quote(download.filename)
    disposition = f"attachment; filename*=utf-8''{quoted}" if quoted != download.filename else f'attachment; filename="{download.filename}"'
    return Response(download.content, media_type=media_type, headers={**headers, "Content-Disposition": disposition})

"""What every handler uses: the unit of work, template rendering, the services' Site, and
public routes whose paths come from site.PATHS."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from portal.db import run_unit_of_work
from portal.errors import NotFound
from portal.models import Upload
from portal.questions.schema import UPLOAD_TYPES
from portal.registrations import uploads
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


async def send_upload(request: Request, upload: Upload, headers: dict[str, str] | None = None) -> Response:
    """A file a participant sent, always as a download (never shown in the browser, whatever
    it holds), typed only as one of the types a question may accept."""
    path = uploads.path_of(request.app.state.settings.upload_directory, upload.stored_name)
    if not await run_in_threadpool(path.is_file):
        raise NotFound("This file is no longer kept: it may have been deleted or moved.")
    media_type = upload.content_type if upload.content_type in UPLOAD_TYPES else "application/octet-stream"
    return FileResponse(
        path, media_type=media_type, filename=upload.filename, content_disposition_type="attachment",
        headers={**(headers or {}), "X-Content-Type-Options": "nosniff"},
    )

"""A participant's own data, behind any of their registrations' private links: everything
held about their address (a page, and the same as a JSON download), and its erasure."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal.errors import NotFound
from portal.registrations import erasure, owndata, uploads
from portal.web.csrf import read_form
from portal.web.plumbing import PRIVATE, public_route, render, site, uow


def _token(request: Request) -> str:
    token: str = request.path_params["token"]
    if "\x00" in token:
        raise NotFound("There is nothing at this address.")
    return token


async def show_own_data(request: Request) -> Response:
    """Everything held about the address, readable."""
    data = await uow(request, owndata.own_data, _token(request), retention=request.app.state.settings.retention)
    return render(request, "public/own_data.html", {"data": data, "token": _token(request), "tz": request.app.state.settings.timezone}, headers=PRIVATE)


async def download_own_data(request: Request) -> Response:
    """The same as the page, as a JSON file to keep; never kept by a cache."""
    data = await uow(request, owndata.own_data, _token(request), retention=request.app.state.settings.retention)
    body = json.dumps(owndata.as_json(data), indent=2, ensure_ascii=False)
    headers = {**PRIVATE, "Content-Disposition": 'attachment; filename="my-registration-data.json"'}
    return Response(body, media_type="application/json", headers=headers)


async def erase_own_data(request: Request) -> Response:
    """What erasure will do (GET), and doing it (POST, with the box ticked)."""
    token = _token(request)
    problem = None
    if request.method == "POST":
        formdata = await read_form(request)
        if formdata.get("understood") == "yes":
            done = await uow(request, erasure.erase, site(request), token, write=True)
            # Only once the erasure is committed: a rolled-back one keeps its files.
            await run_in_threadpool(uploads.discard, request.app.state.settings.upload_directory, done.stored_files)
            return render(request, "public/erased.html", {"done": done, "kept_reason": erasure.KEPT_REASON}, headers=PRIVATE)
        problem = "Tick the box to confirm that you understand what erasing does."
    plan = await uow(request, erasure.plan, token)
    context = {"plan": plan, "token": token, "problem": problem, "kept_reason": erasure.KEPT_REASON}
    return render(request, "public/erase.html", context, status_code=422 if problem else 200, headers=PRIVATE)


routes = [
    public_route("show_own_data", show_own_data),
    public_route("download_own_data", download_own_data),
    public_route("erase_own_data", erase_own_data, methods=["GET", "POST"]),
]

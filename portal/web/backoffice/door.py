"""The door's scanner: one scan (a typed code from the page without JavaScript, or a scan as
JSON from its script), a door's offline scans sent when the network returns (sync), the
event's tickets for the page to hold offline, and the service worker that lets the page
reload without a network."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from portal.forms.door import DoorCodeForm, read_scan, read_scans
from portal.registrations import scans
from portal.registrations.scans import ScanResult
from portal.rosters import scanner
from portal.web.backoffice.auth import require_organiser
from portal.web.backoffice.base import actor, page
from portal.web.csrf import csrf_token, read_form, read_json
from portal.web.plumbing import uow

WORKER = Path(__file__).resolve().parents[3] / "static" / "js" / "door-sw.js"
# The door page may use the camera (this site's own scripts only); every other page may not.
PERMISSIONS = {"Permissions-Policy": "camera=(self), microphone=(), geolocation=()"}


def scanner_context(request: Request) -> dict[str, Any]:
    """What the door page's scanner needs besides the event: the CSRF token its script sends
    in a header, and an id for a code typed into the form without JavaScript."""
    return {"door_csrf": csrf_token(request), "scan_id": new_scan_id()}


def new_scan_id() -> str:
    return secrets.token_hex(16)


def result_json(result: ScanResult) -> dict[str, Any]:
    """A scan's answer as the door's script reads it."""
    return {
        "scan_id": result.scan_id, "outcome": result.outcome.value, "tone": result.tone,
        "headline": result.headline, "detail": result.detail, "clock_note": result.clock_note,
        "name": result.name, "organisation": result.organisation, "code": result.code,
        "status": result.status.value if result.status else None,
        "day": result.day.isoformat() if result.day else None,
        "at": result.at.isoformat() if result.at else None,
        "first_at": result.first_at.isoformat() if result.first_at else None, "first_door": result.first_door,
        "resent": result.resent, "recorded": result.recorded,
    }


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


@require_organiser
async def door_scan(request: Request) -> Response:
    slug = request.path_params["slug"]
    if _is_json(request):
        item = read_scan(await read_json(request))
        if isinstance(item, str):
            return JSONResponse(result_json(scans.invalid(None, item)), status_code=422)
        result = await uow(
            request, scans.scan, actor(request), slug, code_or_payload=item.code, scan_id=item.scan_id, at=item.at,
            door=item.door, write=True,
        )
        return JSONResponse(result_json(result))
    form = DoorCodeForm(await read_form(request))
    if not form.validate():
        context = {"slug": slug, "form": form, "result": None, "scan_id": new_scan_id()}
        return page(request, "admin/door_result.html", context, status_code=422)
    result = await uow(
        request, scans.scan, actor(request), slug, code_or_payload=form.code.data or "", scan_id=form.scan_id.data or None,
        door=scans.TAP, write=True,
    )
    context = {"slug": slug, "form": DoorCodeForm(), "result": result, "scan_id": new_scan_id()}
    return page(request, "admin/door_result.html", context)


@require_organiser
async def door_sync(request: Request) -> Response:
    items = read_scans(await read_json(request))
    if isinstance(items, str):
        return JSONResponse({"error": items}, status_code=400)
    good = [item for item in items if not isinstance(item, str)]
    recorded = iter(await uow(request, scans.sync, actor(request), request.path_params["slug"], good, write=True) if good else [])
    results = [scans.invalid(None, item) if isinstance(item, str) else next(recorded) for item in items]
    return JSONResponse({"results": [result_json(r) for r in results]})


@require_organiser
async def door_tickets(request: Request) -> Response:
    data = await uow(request, scanner.door_tickets, request.path_params["slug"])
    event = data.event
    body = {
        "event": {
            "slug": event.slug, "title": event.title, "timezone": event.timezone, "cancelled": data.cancelled,
            "days": [d.isoformat() for d in data.days],
        },
        # For the page's script to send with its scans, should the one in the page it was
        # loaded with (kept offline) have been replaced at a sign-in since.
        "csrf_token": csrf_token(request),
        "tickets": [
            {
                "code": t.code, "name": t.name, "organisation": t.organisation, "status": t.status,
                "days": {d.isoformat(): {"at": came.at.isoformat(), "door": came.door} for d, came in t.days.items()},
            }
            for t in data.tickets
        ],
    }
    return JSONResponse(body, headers={"X-Robots-Tag": "noindex, nofollow"})


@require_organiser
async def door_worker(request: Request) -> Response:
    """The door page's service worker. Served under /admin/ (not /static/) so that it may
    control the door pages, whose addresses are under /admin/events/."""
    return FileResponse(WORKER, media_type="text/javascript; charset=utf-8")


routes = [
    Route("/door-sw.js", door_worker, name="door_worker"),
    Route("/events/{slug}/door/scan", door_scan, name="door_scan", methods=["POST"]),
    Route("/events/{slug}/door/sync", door_sync, name="door_sync", methods=["POST"]),
    Route("/events/{slug}/door/tickets.json", door_tickets, name="door_tickets"),
]

"""What every back-office handler uses: the signed-in organiser, one-time messages that
survive the redirect after a POST, and rendering a page with both."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from portal.audit import Actor
from portal.web.plumbing import render

FLASH_COOKIE = "portal_flash"
ADMIN_PATH = "/admin"
_MAX_MESSAGES = 8
_MAX_MESSAGE = 400
_MAX_TOTAL = 2000


def actor(request: Request) -> Actor:
    """The organiser the guard let in (see auth.require_organiser)."""
    return request.state.actor


def _serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(str(request.app.state.settings.secret_key), salt="portal.admin-flash")


def flash(request: Request, response: Response, *messages: str) -> Response:
    """Show these messages on the next back-office page this browser opens."""
    kept: list[str] = []
    room = _MAX_TOTAL  # a cookie over ~4 KB is dropped by browsers
    for message in [m[:_MAX_MESSAGE] for m in messages if m][:_MAX_MESSAGES]:
        if len(message) > room:
            break
        kept.append(message)
        room -= len(message)
    if kept:
        response.set_cookie(
            FLASH_COOKIE, _serializer(request).dumps(kept), path=ADMIN_PATH, httponly=True, samesite="lax",
            secure=request.app.state.settings.https,
        )
    return response


def _take_flash(request: Request) -> list[str]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        messages = _serializer(request).loads(raw)
    except BadSignature:
        return []
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, str)]


def page(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Render a back-office page with the signed-in organiser and any waiting messages."""
    had_flash = FLASH_COOKIE in request.cookies
    context = {
        "me": getattr(request.state, "actor", None),
        "messages": _take_flash(request),
        "site_tz": request.app.state.settings.timezone,
        **(context or {}),
    }
    response = render(request, template, context, status_code=status_code, headers=headers)
    if had_flash:
        response.delete_cookie(FLASH_COOKIE, path=ADMIN_PATH, httponly=True, samesite="lax", secure=request.app.state.settings.https)
    return response

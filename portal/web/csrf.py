"""CSRF protection: a random cookie per browser, and in every form an HMAC of it.

A page on another site can make the browser send the cookie but cannot read it, so it cannot
produce the matching form field. Every POST handler reads its form through `read_form` (or a
script's JSON through `read_json`, the token in a header), which refuses the request (403)
before the handler sees any of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "portal_csrf"
# Under https the cookie has the __Host- prefix: a browser then takes it only from this very
# host, over https, for the whole site, so a sibling subdomain (or a page on plain http)
# cannot plant a cookie whose token it knows. Browsers refuse the prefix over http.
SECURE_COOKIE = "__Host-portal_csrf"
FIELD = "csrf_token"


def cookie_name(*, https: bool) -> str:
    return SECURE_COOKIE if https else COOKIE


def _cookie(request: Request) -> str | None:
    return request.cookies.get(cookie_name(https=request.app.state.settings.https))


def _sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{value}".encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token for this browser's forms; creates the cookie on first use."""
    value = request.scope.get("state", {}).get("csrf_new_cookie") or _cookie(request)
    if not value or len(value) > 100:
        value = secrets.token_urlsafe(32)
        request.state.csrf_new_cookie = value
    return _sign(str(request.app.state.settings.secret_key), value)


def renew(request: Request) -> None:
    """Give this browser a new CSRF cookie with the response (at sign-in and sign-out).

    Someone able to plant a cookie in the browser beforehand (a sibling subdomain, a network
    on plain http) could have asked for a token matching it; after the new cookie, that token
    is worthless, so it cannot carry a request into the organiser's fresh session."""
    request.state.csrf_new_cookie = secrets.token_urlsafe(32)


def csrf_field(request: Request) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf_token(request))


class CSRFRefused(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            status_code=403,
            detail=(
                "This form has expired or your browser did not send its security cookie. "
                "Go back, reload the page, and send the form again."
            ),
        )


def check(request: Request, submitted: str | None) -> None:
    cookie = _cookie(request)
    if not cookie or not submitted:
        raise CSRFRefused()
    expected = _sign(str(request.app.state.settings.secret_key), cookie)
    # Compare bytes: compare_digest raises TypeError on a str with non-ASCII characters.
    if not hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "surrogatepass")):
        raise CSRFRefused()


async def _parse(request: Request, *, max_files: int = 0, max_fields: int = 100) -> FormData:
    try:
        return await request.form(max_files=max_files, max_fields=max_fields, max_part_size=256 * 1024)
    except ClientDisconnect:
        # The client went away before sending all it declared: nothing to register, no one
        # to answer, and nothing wrong with the portal (no traceback in the log).
        raise HTTPException(status_code=400, detail="The request ended before all of it arrived.") from None


async def read_form(request: Request, *, max_files: int = 0, max_fields: int = 100) -> FormData:
    """The submitted form, after the CSRF check. The only way POST handlers read a body.
    Files only where a handler expects them (`max_files`: a form's file questions)."""
    form = await _parse(request, max_files=max_files, max_fields=max_fields)
    token = form.get(FIELD)
    check(request, token if isinstance(token, str) else None)
    return form


# A page's script sends the token in this header with a JSON body (the door's scanner): a page
# on another site cannot set a custom header on a request to this one without the browser
# asking first (CORS), and it cannot read the token to put in it.
HEADER = "X-CSRF-Token"
JSON_TYPES = ("application/json",)


async def read_json(request: Request) -> Any:
    """A JSON body, after the CSRF check of the token in the X-CSRF-Token header: refused (403)
    before any of the body is read. Not JSON: 415; JSON that does not parse: 400."""
    check(request, request.headers.get(HEADER))
    if request.headers.get("content-type", "").split(";")[0].strip().lower() not in JSON_TYPES:
        raise HTTPException(status_code=415, detail="Send this as JSON (Content-Type: application/json).")
    try:
        body = await request.body()
    except ClientDisconnect:
        raise HTTPException(status_code=400, detail="The request ended before all of it arrived.") from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise HTTPException(status_code=400, detail="What was sent is not JSON the portal can read.") from None


# RFC 8058's one-click unsubscribe: the mail provider POSTs exactly this field, with no cookie.
ONE_CLICK = ("List-Unsubscribe", "One-Click")


async def read_unsubscribe_form(request: Request) -> FormData | None:
    """None for an RFC 8058 one-click unsubscribe (a body of exactly List-Unsubscribe=One-Click,
    url-encoded or multipart), which passes without a cookie or token; any other body is a
    form read by read_form's check. Safe to let through: the private token in the address is
    the only key to the subscription, and whoever could forge the POST knows it and could
    send the POST from anywhere anyway."""
    form = await _parse(request)
    if list(form.multi_items()) == [ONE_CLICK]:
        return None
    token = form.get(FIELD)
    check(request, token if isinstance(token, str) else None)
    return form


class CSRFCookieMiddleware:
    """Sets the CSRF cookie on the response when a page made a new one."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure
        self.name = cookie_name(https=secure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = scope.get("state", {}).get("csrf_new_cookie")
                if value:
                    cookie = f"{self.name}={value}; Path=/; HttpOnly; SameSite=Lax"
                    if self.secure:
                        cookie += "; Secure"
                    message.setdefault("headers", [])
                    message["headers"] = list(message["headers"]) + [(b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

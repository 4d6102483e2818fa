"""Who is signed in to the back office.

The session is a cookie signed with the secret key (HttpOnly, SameSite=Lax, Secure under
https, sent only to /admin) that holds the organiser's id, the account's current session
key, a random session id made afresh at every sign-in, and the time of the last request.
A request more than PORTAL_SESSION_IDLE_MINUTES after the last one finds the session over.
Signing out, changing the password or being deactivated replaces the account's session
key, which ends every session of that account, on every device, at once.

Every back-office handler is wrapped in one of the guards below; tests/admin walks the
routes and checks that none is left open.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.accounts import signin
from portal.audit import Actor
from portal.errors import InvalidInput
from portal.forms.accounts import PasswordForm, SignInForm
from portal.web import csrf
from portal.web.backoffice.base import ADMIN_PATH, actor, flash, page
from portal.web.csrf import read_form
from portal.web.plumbing import uow
from portal.web.security import client_address

Handler = Callable[[Request], Awaitable[Response]]

COOKIE = "portal_admin"
# The cookie is re-signed with a new last-seen time at most this often (seconds).
REFRESH_AFTER = 60
# A failed sign-in is answered this much later per recent failure, up to MAX_DELAY: slowed
# first, then refused (services.signin.sign_in) after FAILURE_LIMIT failures.
FAILURE_DELAY = 0.3
MAX_DELAY = 2.0


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class SessionCookie:
    organiser_id: int
    key: str
    sid: str
    seen: float


def _serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(str(request.app.state.settings.secret_key), salt="portal.admin-session")


def _read_cookie(request: Request) -> SessionCookie | None:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 2000:
        return None
    try:
        data = _serializer(request).loads(raw)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    oid, key, sid, seen = data.get("o"), data.get("k"), data.get("s"), data.get("t")
    if not (isinstance(oid, int) and isinstance(key, str) and isinstance(sid, str) and isinstance(seen, (int, float))):
        return None
    return SessionCookie(oid, key, sid, float(seen))


def _write_cookie(request: Request, response: Response, cookie: SessionCookie) -> None:
    value = _serializer(request).dumps({"o": cookie.organiser_id, "k": cookie.key, "s": cookie.sid, "t": int(cookie.seen)})
    response.set_cookie(
        COOKIE, value, path=ADMIN_PATH, httponly=True, samesite="lax", secure=request.app.state.settings.https
    )


def _clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=ADMIN_PATH, httponly=True, samesite="lax", secure=request.app.state.settings.https)


async def _signed_in(request: Request) -> tuple[Actor | None, SessionCookie | None, bool]:
    """(the organiser, their cookie, whether a session just ran out) for this request."""
    cookie = _read_cookie(request)
    if cookie is None:
        return None, None, False
    idle = request.app.state.settings.session_idle_minutes * 60
    if _now() - cookie.seen > idle:
        return None, cookie, True
    return await uow(request, signin.session_actor, cookie.organiser_id, cookie.key), cookie, False


def _safe_next(value: str | None) -> str | None:
    """A back-office path to return to after signing in; anything else is dropped."""
    if not value or len(value) > 2000 or "\\" in value or value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == ADMIN_PATH or parts.path.startswith(ADMIN_PATH + "/")):
        return None
    return value


def _refuse(request: Request, *, download: bool, expired: bool) -> Response:
    if download:
        raise HTTPException(401, "Sign in to the back office to download this.")
    url = request.url_for("admin:sign_in")
    if request.method in ("GET", "HEAD"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        url = url.include_query_params(next=here)
    if expired:
        url = url.include_query_params(expired=1)
    return RedirectResponse(url, status_code=303)


def _sets_cookie(response: Response, name: str) -> bool:
    prefix = name.encode() + b"="
    return any(k == b"set-cookie" and v.startswith(prefix) for k, v in response.raw_headers)


def _guard(handler: Handler, *, admin: bool, download: bool) -> Handler:
    async def wrapper(request: Request) -> Response:
        who, cookie, expired = await _signed_in(request)
        if who is None or cookie is None:
            response = _refuse(request, download=download, expired=expired)
            if cookie is not None:
                _clear_cookie(request, response)
            return response
        request.state.actor = who  # also for the error page, which shows the menu to who is signed in
        if admin and not who.is_admin:
            raise HTTPException(403, "Only admins can do this: it manages organiser accounts.")
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        if _now() - cookie.seen > REFRESH_AFTER and not _sets_cookie(response, COOKIE):
            _write_cookie(request, response, SessionCookie(cookie.organiser_id, cookie.key, cookie.sid, _now()))
        return response

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    wrapper.access = "admin" if admin else "organiser"  # type: ignore[attr-defined]
    return wrapper


def require_organiser(handler: Handler) -> Handler:
    """Pages for any signed-in organiser; others are sent to sign in and brought back."""
    return _guard(handler, admin=False, download=False)


def require_admin(handler: Handler) -> Handler:
    """Pages for admins only: other organisers get 403."""
    return _guard(handler, admin=True, download=False)


def require_organiser_download(handler: Handler) -> Handler:
    """Files for signed-in organisers: others get 401, as a download cannot follow a redirect."""
    return _guard(handler, admin=False, download=True)


def public(handler: Handler) -> Handler:
    """Marks the few back-office handlers open to everyone (signing in and out)."""
    handler.access = "public"  # type: ignore[attr-defined]
    return handler


def _minutes(seconds: float) -> int:
    return max(1, int(-(-seconds // 60)))


@public
async def sign_in(request: Request) -> Response:
    next_url = _safe_next(request.query_params.get("next"))
    expired = request.query_params.get("expired") == "1"
    problem, status = None, 200
    headers = {"Cache-Control": "no-store"}
    if request.method == "POST":
        form = SignInForm(await read_form(request))
        next_url = _safe_next(form.next.data)
        if form.validate():
            result = await uow(
                request, signin.sign_in, form.email.data or "", form.password.data or "", client_address(request), write=True
            )
            if result.actor is not None and result.session_key is not None:
                response = RedirectResponse(next_url or request.url_for("admin:dashboard"), status_code=303)
                # A fresh session id every time: whatever cookie came in is replaced; so is
                # the CSRF cookie, so no token obtained before signing in works after it.
                _write_cookie(request, response, SessionCookie(result.actor.id, result.session_key, secrets.token_urlsafe(16), _now()))
                csrf.renew(request)
                return response
            if result.refused_until is not None:
                wait = (result.refused_until.timestamp() - _now())
                problem = (
                    "Too many failed sign-ins for this account or from this network. For safety, signing in is "
                    f"paused: try again in {_minutes(wait)} minutes."
                )
                status = 429
                headers["Retry-After"] = str(max(1, int(wait)))
            else:
                await asyncio.sleep(min(FAILURE_DELAY * result.failures, MAX_DELAY))
                problem, status = "That email address and password do not match an active organiser account.", 401
        else:
            status = 422
        form.password.data = ""
    else:
        form = SignInForm(data={"next": next_url or ""})
    return page(request, "admin/sign_in.html", {"form": form, "problem": problem, "expired": expired}, status_code=status, headers=headers)


@public
async def sign_out(request: Request) -> Response:
    await read_form(request)
    cookie = _read_cookie(request)
    if cookie is not None:
        await uow(request, signin.end_sessions, cookie.organiser_id, write=True)
    response = RedirectResponse(request.url_for("admin:sign_in"), status_code=303)
    _clear_cookie(request, response)
    csrf.renew(request)
    return flash(request, response, "You are signed out.")


@require_organiser
async def change_password(request: Request) -> Response:
    problem, status, headers = None, 200, {}
    if request.method == "POST":
        form = PasswordForm(await read_form(request))
        if form.validate():
            try:
                result = await uow(request, signin.change_password, actor(request), form.current.data or "", form.new.data or "", write=True)
            except InvalidInput as exc:
                problem, status = exc.message, 400
            else:
                if result.session_key is not None:
                    response = RedirectResponse(request.url_for("admin:dashboard"), status_code=303)
                    who = actor(request)
                    _write_cookie(request, response, SessionCookie(who.id, result.session_key, secrets.token_urlsafe(16), _now()))
                    return flash(request, response, "Your password is changed. Any other sessions of your account are signed out.")
                if result.refused_until is not None:
                    wait = result.refused_until.timestamp() - _now()
                    problem = (
                        "Too many wrong passwords for this account. For safety, changing the password and signing in "
                        f"are paused: try again in {_minutes(wait)} minutes."
                    )
                    status, headers["Retry-After"] = 429, str(max(1, int(wait)))
                elif result.wrong_current:
                    problem, status = "Your current password is not right.", 400
        else:
            status = 422
        form.current.data = form.new.data = form.confirm.data = ""
    else:
        form = PasswordForm()
    return page(request, "admin/password.html", {"form": form, "problem": problem}, status_code=status, headers=headers)


routes = [
    Route("/sign-in", sign_in, name="sign_in", methods=["GET", "POST"]),
    Route("/sign-out", sign_out, name="sign_out", methods=["POST"]),
    Route("/account/password", change_password, name="change_password", methods=["GET", "POST"]),
]

"""Who is signed in to the back office.

The session is a cookie signed with the secret key (HttpOnly, SameSite=Lax, Secure under
https, sent only to /admin) that holds the organiser's id, the account's current session
key, a random session id made afresh at every sign-in, the time of signing in and the time
of the last request. A request more than PORTAL_SESSION_IDLE_MINUTES after the last one, or
more than PORTAL_SESSION_MAX_HOURS after signing in, finds the session over. Signing out,
changing the password or being deactivated replaces the account's session key, which ends
every session of that account, on every device, at once; only a session that is not over
can sign out, so a cookie kept from an ended session cannot end its owner's new ones.

Signing in takes three steps (`_check_password`): the throttle counts the attempt and gives
it a turn, the handler waits for the turn without holding a thread or a transaction, and
Argon2 runs in the thread pool outside any transaction (accounts/signin.py says why).

Every back-office handler is wrapped in one of the guards below; tests/admin walks the
routes and checks that none is left open.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio.to_thread
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.accounts import signin
from portal.accounts.passwords import hash_password
from portal.audit import Actor
from portal.errors import InvalidInput
from portal.forms.accounts import PasswordForm, SignInForm
from portal.web import csrf
from portal.web.backoffice import access, kept
from portal.web.backoffice.base import ADMIN_PATH, actor, flash, page
from portal.web.backoffice.kept import KeptForm
from portal.web.csrf import read_form
from portal.web.plumbing import uow
from portal.web.security import client_address

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")

COOKIE = "portal_admin"
COOKIE_SALT = "portal.admin-session"
# The cookie is re-signed with a new last-seen time at most this often (seconds).
REFRESH_AFTER = 60
# Why a session is over, as the sign-in page's `expired` parameter says it.
IDLE, LIMIT = "1", "limit"
# Waits for a sign-in attempt's turn (accounts/throttle.py); the tests record them instead.
_sleep = asyncio.sleep


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class SessionCookie:
    organiser_id: int
    key: str
    sid: str
    seen: float
    began: float  # when the organiser signed in


def _serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(str(request.app.state.settings.secret_key), salt=COOKIE_SALT)


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
    oid, key, sid, seen, began = data.get("o"), data.get("k"), data.get("s"), data.get("t"), data.get("b")
    if not (isinstance(oid, int) and isinstance(key, str) and isinstance(sid, str)):
        return None
    # A cookie from before sessions had a lifetime has no "b": it is over, like any other.
    if not (isinstance(seen, (int, float)) and isinstance(began, (int, float))):
        return None
    return SessionCookie(oid, key, sid, float(seen), float(began))


def _write_cookie(request: Request, response: Response, cookie: SessionCookie) -> None:
    value = _serializer(request).dumps(
        {"o": cookie.organiser_id, "k": cookie.key, "s": cookie.sid, "t": int(cookie.seen), "b": int(cookie.began)}
    )
    response.set_cookie(
        COOKIE, value, path=ADMIN_PATH, httponly=True, samesite="lax", secure=request.app.state.settings.https
    )


def _clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=ADMIN_PATH, httponly=True, samesite="lax", secure=request.app.state.settings.https)


def _new_session(organiser_id: int, key: str) -> SessionCookie:
    now = _now()
    return SessionCookie(organiser_id, key, secrets.token_urlsafe(16), now, now)


def _ended(request: Request, cookie: SessionCookie) -> str | None:
    """Why the clock has ended the cookie's session (LIMIT, IDLE), or None if it has not."""
    settings = request.app.state.settings
    now = _now()
    if now - cookie.began > settings.session_max_hours * 3600:
        return LIMIT
    if now - cookie.seen > settings.session_idle_minutes * 60:
        return IDLE
    return None


async def _signed_in(request: Request) -> tuple[Actor | None, SessionCookie | None, str | None]:
    """(the organiser, their cookie, why a session just ran out) for this request."""
    cookie = _read_cookie(request)
    if cookie is None:
        return None, None, None
    if ended := _ended(request, cookie):
        return None, cookie, ended
    return await uow(request, signin.session_actor, cookie.organiser_id, cookie.key), cookie, None


def _safe_next(value: str | None) -> str | None:
    """A back-office path to return to after signing in; anything else is dropped."""
    if not value or len(value) > 2000 or "\\" in value or value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not (parts.path == ADMIN_PATH or parts.path.startswith(ADMIN_PATH + "/")):
        return None
    return value


async def _refuse(request: Request, *, download: bool, expired: str | None) -> Response:
    if download:
        raise HTTPException(401, "Sign in to the back office to download this.")
    if request.method == "POST" and (held := await kept.from_refused_post(request, _safe_next)) is not None:
        # The sign-in page itself, not a redirect, so that it can carry what was typed
        # (kept.py). 401: the form was not saved, which a 200 would hide from scripts.
        form = SignInForm(data={"next": held.back or ""})
        return _sign_in_page(request, form, held=held, expired=expired, status=401)
    url = request.url_for("admin:sign_in")
    if request.method in ("GET", "HEAD"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        url = url.include_query_params(next=here)
    if expired:
        url = url.include_query_params(expired=expired)
    return RedirectResponse(url, status_code=303)


def _sets_cookie(response: Response, name: str) -> bool:
    prefix = name.encode() + b"="
    return any(k == b"set-cookie" and v.startswith(prefix) for k, v in response.raw_headers)


def _seconds_left(request: Request, cookie: SessionCookie) -> int:
    """How long the session lasts after this request, if no other comes: for the page's
    warning before it ends (static/js/session_clock.js)."""
    settings = request.app.state.settings
    now = _now()
    seen = now if now - cookie.seen > REFRESH_AFTER else cookie.seen  # as the guard re-signs it
    return max(0, int(min(seen + settings.session_idle_minutes * 60, cookie.began + settings.session_max_hours * 3600) - now))


def _guard(handler: Handler, *, admin: bool, download: bool) -> Handler:
    async def wrapper(request: Request) -> Response:
        who, cookie, expired = await _signed_in(request)
        if who is None or cookie is None:
            response = await _refuse(request, download=download, expired=expired)
            if cookie is not None:
                _clear_cookie(request, response)
            return response
        request.state.actor = who  # also for the error page, which shows the menu to who is signed in
        request.state.session_left = _seconds_left(request, cookie)
        if admin and not who.is_admin:
            raise HTTPException(403, "Only admins can do this: organiser accounts and the data-access log are theirs.")
        access.check(who, handler.__name__)  # route names are handler names
        if who.is_programme_manager and request.path_params:
            first = request.url.path.partition(ADMIN_PATH + "/")[2].split("/")[0]
            if not await uow(request, access.sees_path, who, first, dict(request.path_params)):
                raise HTTPException(404, access.NOT_THEIRS)
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        if _now() - cookie.seen > REFRESH_AFTER and not _sets_cookie(response, COOKIE):
            _write_cookie(request, response, SessionCookie(cookie.organiser_id, cookie.key, cookie.sid, _now(), cookie.began))
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


async def _argon2(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run an Argon2 hash or check in the thread pool, at most ARGON2_AT_ONCE at a time in
    this process (app.ARGON2_AT_ONCE): each takes 64 MiB, and a burst of sign-ins must not take the worker's
    memory (the thread pool alone would let 40 run at once)."""
    return await anyio.to_thread.run_sync(partial(fn, *args), limiter=request.app.state.argon2_limiter)


async def _check_password(request: Request, email: str, password: str) -> tuple[signin.Attempt, signin.Verdict] | signin.Refusal:
    """Count the attempt (or refuse it), wait for its turn, and check the password: the wait
    holds no thread and no transaction, and Argon2 runs in the thread pool with none open."""
    attempt = await uow(request, signin.begin_sign_in, email, client_address(request), write=True)
    if isinstance(attempt, signin.Refusal):
        return attempt
    wait = attempt.check_at.timestamp() - _now()
    if wait > 0:
        await _sleep(wait)
    return attempt, await _argon2(request, signin.check_password, attempt, password)


SIGNING_IN = "signing in to this account from it is paused"
CHANGING = "changing the password, and signing in to this account, from it are paused"


def _paused(until: float, *, busy: bool, what: str) -> tuple[str, str]:
    """The message and Retry-After for an attempt refused unchecked, or for a wrong one that
    paused its address; `what` says what is paused."""
    wait = max(1, math.ceil(until - _now()))
    if busy:
        # The account is paced, not locked: a few seconds later there is a turn for it again.
        message = (
            "Many attempts to sign in to this account are being made at the moment, so they are taken "
            f"one at a time. Try again in {wait} seconds."
        )
    else:
        message = (
            f"Too many wrong passwords have come from this network. For safety, {what}: "
            f"try again in {max(1, math.ceil(wait / 60))} minutes."
        )
    return message, str(wait)


def _sign_in_page(request: Request, form: SignInForm, *, held: KeptForm | None = None, expired: str | None = None, problem: str | None = None, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    context = {
        "form": form, "problem": problem, "expired": expired if expired in (IDLE, LIMIT) else None,
        "max_hours": request.app.state.settings.session_max_hours, "held": held, "kept_prefix": kept.PREFIX,
    }
    return page(request, "admin/sign_in.html", context, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


@public
async def sign_in(request: Request) -> Response:
    next_url = _safe_next(request.query_params.get("next"))
    expired = request.query_params.get("expired")
    problem, status, held = None, 200, None
    headers: dict[str, str] = {}
    if request.method == "POST":
        formdata = await read_form(request, max_fields=kept.MAX_FIELDS + 10)
        form = SignInForm(formdata)
        next_url = _safe_next(form.next.data)
        held = kept.from_sign_in(formdata, _safe_next)
        if form.validate():
            checked = await _check_password(request, form.email.data or "", form.password.data or "")
            if isinstance(checked, signin.Refusal):
                problem, headers["Retry-After"] = _paused(checked.until.timestamp(), busy=checked.busy, what=SIGNING_IN)
                status = 429
            else:
                attempt, verdict = checked
                result = await uow(request, signin.finish_sign_in, attempt, verdict, write=True) if verdict.matched else None
                if result is not None and result.actor is not None and result.session_key is not None:
                    # A fresh session id every time: whatever cookie came in is replaced; so is
                    # the CSRF cookie, so no token obtained before signing in works after it
                    # (the page of kept changes is rendered with the new one).
                    csrf.renew(request)
                    if held is not None:
                        response = page(request, "admin/kept.html", {"held": held, "me": result.actor}, headers={"Cache-Control": "no-store"})
                    else:
                        response = RedirectResponse(next_url or request.url_for("admin:dashboard"), status_code=303)
                    _write_cookie(request, response, _new_session(result.actor.id, result.session_key))
                    return response
                if attempt.paused_until is not None:
                    problem, headers["Retry-After"] = _paused(attempt.paused_until.timestamp(), busy=False, what=SIGNING_IN)
                    status = 429
                else:
                    problem, status = "That email address and password do not match an active organiser account.", 401
        else:
            status = 422
        form.password.data = ""
    else:
        form = SignInForm(data={"next": next_url or ""})
    return _sign_in_page(request, form, held=held, expired=expired, problem=problem, status=status, headers=headers)


@public
async def sign_out(request: Request) -> Response:
    await read_form(request)
    cookie = _read_cookie(request)
    # Only a live session signs out (and so ends the account's others): a cookie past its
    # time, or from a session already ended, clears itself and ends nothing.
    if cookie is not None and _ended(request, cookie) is None:
        await uow(request, signin.end_sessions, cookie.organiser_id, cookie.key, write=True)
    response = RedirectResponse(request.url_for("admin:sign_in"), status_code=303)
    _clear_cookie(request, response)
    csrf.renew(request)
    return flash(request, response, "You are signed out.")


async def _change_password(request: Request, who: Actor, current: str, new: str) -> tuple[str | None, int, dict[str, str], str | None]:
    """(problem, status, headers, the new session key) for a valid change-password form."""
    try:
        signin.check_new_password(current, new)
    except InvalidInput as exc:
        return exc.message, 400, {}, None
    checked = await _check_password(request, who.email, current)
    if isinstance(checked, signin.Refusal):
        problem, retry = _paused(checked.until.timestamp(), busy=checked.busy, what=CHANGING)
        return problem, 429, {"Retry-After": retry}, None
    attempt, verdict = checked
    if verdict.matched:
        new_hash = await _argon2(request, hash_password, new)
        key = await uow(request, signin.change_password, who, attempt, verdict, new_hash, write=True)
        if key is not None:
            return None, 303, {}, key
    if attempt.paused_until is not None:
        problem, retry = _paused(attempt.paused_until.timestamp(), busy=False, what=CHANGING)
        return problem, 429, {"Retry-After": retry}, None
    return "Your current password is not right.", 400, {}, None


@require_organiser
async def change_password(request: Request) -> Response:
    problem, status, headers = None, 200, {}
    if request.method == "POST":
        form = PasswordForm(await read_form(request))
        if form.validate():
            who = actor(request)
            problem, status, headers, key = await _change_password(request, who, form.current.data or "", form.new.data or "")
            if key is not None:
                response = RedirectResponse(request.url_for("admin:dashboard"), status_code=303)
                _write_cookie(request, response, _new_session(who.id, key))
                return flash(request, response, "Your password is changed. Any other sessions of your account are signed out.")
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

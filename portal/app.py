"""create_app: the one place where the portal is wired together."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from portal.changes import ChangeTracker
from portal.datakeys import check_keyring
from portal.db import make_engine, make_session_factory, run_unit_of_work
from portal.errors import PortalError
from portal.mail.outbox import BackgroundDelivery
from portal.mail.planner import mailing_work
from portal.mail.transports import LogTransport
from portal.registrations.retention import period_of, retention_of
from portal.rosters.numbers import NumbersCache
from portal.settings import Settings
from portal.site import Site, path_for
from portal.templating import make_environment
from portal.web import agenda, branding, certificates, endorse, feeds, fragments, health, lostlink, owndata, public, subscribe
from portal.web.backoffice import access
from portal.web.backoffice import routes as backoffice
from portal.web.backoffice.base import ADMIN_PATH
from portal.web.csrf import CSRFCookieMiddleware, csrf_field
from portal.web.pagecache import SharedResponseCache
from portal.web.security import (
    BodyLimitMiddleware,
    OneValuePerHeader,
    RejectNulMiddleware,
    SecurityHeadersMiddleware,
    security_headers,
)

log = logging.getLogger("portal")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_BODY_BYTES = 512 * 1024
# Argon2 hashes or checks running at once in one process (64 MiB each): a burst of sign-ins
# waits its turn rather than taking the worker's memory.
ARGON2_AT_ONCE = 4


def _error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    """The error page: in the back office's layout under /admin (with its menu when someone is
    signed in), in the public one elsewhere."""
    templates: Jinja2Templates = request.app.state.templates
    path = request.url.path
    if path == ADMIN_PATH or path.startswith(ADMIN_PATH + "/"):
        context = {"title": title, "message": message, "me": getattr(request.state, "actor", None), "messages": []}
        return templates.TemplateResponse(request, "admin/error.html", context, status_code=status_code)
    return templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message}, status_code=status_code
    )


async def _portal_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PortalError)
    return _error_page(request, exc.status_code, exc.title, exc.message)


_HTTP_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    413: "Too large",
    429: "Too many requests",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    title = _HTTP_TITLES.get(exc.status_code, "Something went wrong")
    message = exc.detail if exc.status_code != 404 else "There is nothing at this address. It may have moved, or the link may be incomplete."
    if exc.status_code == 413:
        message = _TOO_LARGE
    response = _error_page(request, exc.status_code, title, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


_TOO_LARGE = "What you sent is larger than the portal accepts. Shorten the longest fields and try again."


def _too_large(request: Request) -> Response:
    return _error_page(request, 413, _HTTP_TITLES[413], _TOO_LARGE)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    response = _error_page(request, 500, "Something went wrong", "The portal hit an unexpected problem. Nothing you submitted was lost; please try again in a moment.")
    # Starlette sends this page from outside every middleware: add the security headers here.
    response.headers.update(security_headers(https=request.app.state.settings.https))
    return response


@functools.lru_cache(maxsize=1)
def _page_environment() -> jinja2.Environment:
    """The pages' Jinja environment: one per process, so that each template is compiled once
    however many apps the process makes (the tests make one per test). It holds nothing of
    an app's settings."""
    env = make_environment()
    env.globals["csrf_field"] = csrf_field
    # A public route's path straight from site.PATHS: where a page links the same route
    # hundreds of times (a conference's timetable), url_for's search of the routes for each
    # link was most of the rendering.
    env.globals["path_for"] = path_for
    env.globals["timetable_day"] = fragments.timetable_day_renderer(env)
    # An event's retention (period, last day kept) for the privacy notices: plain arithmetic.
    env.globals["retention_of"] = retention_of
    env.globals["period_of"] = period_of
    # `me|may('route_name')`: whether the signed-in organiser's role may use a back-office route.
    env.filters["may"] = access.allowed
    return env


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Before serving anything: keys that cannot open this database's sealed answers stop
        # the start with a message, rather than a page of errors later (DataKeyError).
        try:
            await anyio.to_thread.run_sync(run_unit_of_work, sessions, check_keyring)
        except BaseException:
            engine.dispose()  # nothing will be served: its connections go now
            raise
        if settings.data_key_from_var:
            log.warning(
                "PORTAL_DATA_KEY is unset: sensitive answers are sealed with the key in %s. In production set "
                "PORTAL_DATA_KEY and keep a copy of the key elsewhere: without it the sealed answers cannot be read.",
                settings.var_dir / "data_key",
            )
        # Development without a mail server: deliver the outbox to this process's log.
        delivery = None
        if settings.deliver_in_process and settings.smtp_url is None:
            delivery = BackgroundDelivery(sessions, LogTransport(), settings.mail_from, jobs=mailing_work(settings, sessions))
            delivery.start()
        yield
        if delivery is not None:
            await delivery.stop()
        engine.dispose()

    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine, keyring=settings.keyring, upload_directory=settings.upload_directory)
    templates = Jinja2Templates(env=_page_environment())
    changes = ChangeTracker(sessions, settings.cache_seconds)

    app = Starlette(
        routes=[
            *feeds.routes,
            # Before public's /registrations/{token}, which would take "lost" for a token.
            *lostlink.routes,
            *public.routes,
            *owndata.routes,
            *agenda.routes,
            *endorse.routes,
            *certificates.routes,
            *subscribe.routes,
            *health.routes,
            *branding.routes,
            Mount(ADMIN_PATH, routes=backoffice.routes, name="admin"),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        middleware=[
            # Outermost: one value per request header, before anything reads one.
            Middleware(OneValuePerHeader, https=settings.https),
            # Then a kept public answer is sent before anything else runs.
            Middleware(SharedResponseCache, changes=changes),
            Middleware(SecurityHeadersMiddleware, https=settings.https),
            Middleware(
                BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES, too_large=_too_large,
                multipart_max_bytes=settings.upload_request_max_bytes,
            ),
            Middleware(RejectNulMiddleware),
            Middleware(CSRFCookieMiddleware, secure=settings.https),
            Middleware(GZipMiddleware, minimum_size=1000),
        ],
        exception_handlers={PortalError: _portal_error, HTTPException: _http_error, 500: _server_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.branding = branding.load_branding(settings.branding_dir)
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.templates = templates
    app.state.site = Site(base_url=settings.base_url, mail_from=settings.mail_from, timezone=settings.timezone)
    app.state.changes = changes
    app.state.roster_numbers = NumbersCache()
    app.state.argon2_limiter = anyio.CapacityLimiter(ARGON2_AT_ONCE)
    return app

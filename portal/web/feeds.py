"""The feeds that calendar apps and feed readers poll: iCalendar for the site, a programme, a
category, one event (with its sessions when asked), one session and one participant, Atom for
new announcements, and a conference's schedule for companion apps (frab's XML and JSON).

Pollers come back every hour for years, so the common answer must be cheap. A public feed is
kept, as bytes, per process under the data's change version (portal/changes.py) and the day:
while nothing was written, a request costs no query and no building, and a conditional GET
is answered 304 from the kept ETag. The ETag is a hash of the body, and a feed is the same
bytes for the same data (calendars/ical.py: DTSTAMP), so a write that does not touch a
feed (someone registering, say) rebuilds it once but still leaves its pollers with a 304.

Compression is done here rather than by the app's GZipMiddleware: the compressed body is kept
beside the plain one, so a large feed is compressed once per change rather than per request,
and each coding gets its own strong ETag, as RFC 9110 asks of strong validators.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal.catalogue import feeds, schedule
from portal.db import utcnow
from portal.errors import InvalidInput
from portal.web.pagecache import change_version, shared_page
from portal.web.params import text_param
from portal.web.plumbing import etag_matches, public_route, site, uow

PUBLIC_CACHE = "public, max-age=300"
# A personal feed is behind its private token: browsers and the calendar app may keep it,
# shared caches may not. (no-store would make calendar apps fetch it in full every time.)
PRIVATE_CACHE = "private, max-age=300"
PRIVATE_HEADERS = {"X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer"}
# Below this a body is sent as it is: gzip would save next to nothing (GZipMiddleware's own
# minimum_size in app.py).
GZIP_MIN_BYTES = 1000
METHODS = ["GET", "HEAD"]
# What a feed cache key and its entry's bookkeeping cost at most (two texts of at most 200
# characters, a date, a version, the tuples and the OrderedDict's node).
KEY_BYTES = 2048


@dataclass(frozen=True)
class FeedEntry:
    """One built feed with what the HTTP answer needs: its ETag digest, Last-Modified, and
    (when worth it) the compressed body."""

    body: bytes
    media_type: str
    digest: str
    last_modified: str | None
    gzipped: bytes | None

    @classmethod
    def of(cls, feed: feeds.Feed) -> FeedEntry:
        """Hash and compress a feed (CPU work: call it in the thread pool)."""
        digest = hashlib.sha256(feed.body).hexdigest()[:32]
        modified = format_datetime(feed.last_modified.replace(microsecond=0), usegmt=True) if feed.last_modified else None
        # mtime=0: the same body always compresses to the same bytes.
        packed = gzip.compress(feed.body, compresslevel=6, mtime=0) if len(feed.body) >= GZIP_MIN_BYTES else None
        return cls(feed.body, feed.media_type, digest, modified, packed)

    def etag(self, gzipped: bool) -> str:
        return f'"{self.digest}-gz"' if gzipped else f'"{self.digest}"'

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"") + KEY_BYTES


class FeedCache:
    """Built public feeds, least recently used dropped first, bounded in entries and bytes.

    The keys are built from the handler's own inputs only (the programme and category after
    params.text_param, at most 200 characters each, the day and the change version), so a
    key costs at most KEY_BYTES, which each entry counts against max_bytes with its bodies.

    Requests that miss on the same key while it is being built wait for that one build
    rather than each starting their own: after a write, or when a process starts, every
    poller would otherwise build the same large feed at once.
    """

    def __init__(self, max_entries: int = 64, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, FeedEntry] = OrderedDict()
        self._building: dict[Hashable, asyncio.Future[FeedEntry]] = {}

    def get(self, key: Hashable) -> FeedEntry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: FeedEntry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries or (
            len(self._entries) > 1 and sum(e.size for e in self._entries.values()) > self.max_bytes
        ):
            self._entries.popitem(last=False)

    async def get_or_build(self, key: Hashable, build: Callable[[], Awaitable[FeedEntry]]) -> FeedEntry:
        """The entry for `key`, built by `build` unless it is kept or already being built."""
        while True:
            entry = self.get(key)
            if entry is not None:
                return entry
            pending = self._building.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled, not the build
                # The build it waited for was cancelled: look again, and build if need be.
        future: asyncio.Future[FeedEntry] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            entry = await build()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            # Waiters get the same answer (a NotFound is a 404 for all of them).
            future.set_exception(exc)
            future.exception()  # retrieved here, so asyncio does not log it when no one waited
            raise
        else:
            self.put(key, entry)
            future.set_result(entry)
            return entry
        finally:
            del self._building[key]

    def __len__(self) -> int:
        return len(self._entries)


def feed_cache(request: Request) -> FeedCache:
    """This app's feed cache, made on first use (one per app, so apps never share feeds)."""
    state = request.app.state
    cache = getattr(state, "feed_cache", None)
    if cache is None:
        cache = state.feed_cache = FeedCache()
    return cache


def _not_modified(request: Request, entry: FeedEntry) -> bool:
    if request.headers.get("if-none-match") is not None:
        # Either coding's tag will do: both mean the client holds this very content.
        return etag_matches(request, entry.etag(False)) or etag_matches(request, entry.etag(True))
    since = request.headers.get("if-modified-since")
    if since and entry.last_modified:
        try:
            return parsedate_to_datetime(entry.last_modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _respond(request: Request, entry: FeedEntry, cache_control: str, extra: dict[str, str] | None = None) -> Response:
    # The same test as GZipMiddleware's, so the two never disagree about a request.
    wants_gzip = entry.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "")
    headers = {"ETag": entry.etag(wants_gzip), "Cache-Control": cache_control, **(extra or {})}
    if entry.last_modified:
        headers["Last-Modified"] = entry.last_modified
    # Vary on every answer that GZipMiddleware passes through untouched (compressed bodies,
    # 304s, HEADs). A full plain body gets it from the middleware, which adds it to every body
    # it could have compressed; adding it here too would repeat it.
    not_modified = _not_modified(request, entry)
    if entry.gzipped is not None and (wants_gzip or not_modified or request.method == "HEAD"):
        headers["Vary"] = "Accept-Encoding"
    if not_modified:
        return Response(status_code=304, headers=headers)
    body = entry.gzipped if wants_gzip and entry.gzipped is not None else entry.body
    if wants_gzip:
        headers["Content-Encoding"] = "gzip"
    headers["Content-Length"] = str(len(body))
    # HEAD: the headers a GET would get, no body.
    return Response(b"" if request.method == "HEAD" else body, headers=headers, media_type=entry.media_type)


async def _built(request: Request, build: Callable[..., feeds.Feed], *args: Any, **kwargs: Any) -> FeedEntry:
    feed = await uow(request, build, site(request), *args, **kwargs)
    return await run_in_threadpool(FeedEntry.of, feed)


async def _public_feed(
    request: Request,
    key: tuple[Hashable, ...],
    build: Callable[..., feeds.Feed],
    *args: Any,
    extra: dict[str, str] | None = None,
    **kwargs: Any,
) -> Response:
    """Serve a public feed from this process's cache while the data is unchanged."""
    version = await change_version(request)
    cache = feed_cache(request)
    full_key = (*key, version)
    entry = await cache.get_or_build(full_key, lambda: _built(request, build, *args, **kwargs))
    return _respond(request, entry, PUBLIC_CACHE, extra)


@shared_page
async def show_calendar(request: Request) -> Response:
    programme, category = text_param(request, "programme"), text_param(request, "category")
    query = urlencode({k: v for k, v in (("programme", programme), ("category", category)) if v})
    source = request.url.path + (f"?{query}" if query else "")
    # The day is in the key: which past events a feed still shows moves on at midnight UTC.
    day = utcnow().date()
    return await _public_feed(
        request, ("site", programme, category, day), feeds.site_feed,
        since=feeds.history_start(day), programme=programme, category=category, source=source,
    )


@shared_page
async def show_programme_calendar(request: Request) -> Response:
    code = request.path_params["code"]
    day = utcnow().date()
    return await _public_feed(
        request, ("programme", code, day), feeds.site_feed,
        since=feeds.history_start(day), programme=code, source=request.url.path,
    )


def _with_sessions(request: Request) -> bool:
    """`?sessions=all` asks an event's feed for its sessions too; without it, the event alone."""
    value = text_param(request, "sessions")
    if value is None:
        return False
    if value != "all":
        raise InvalidInput("The sessions parameter takes one value, all: ?sessions=all adds the event's sessions.")
    return True


@shared_page
async def show_event_calendar(request: Request) -> Response:
    slug = request.path_params["slug"]
    with_sessions = _with_sessions(request)
    source = request.url.path + ("?sessions=all" if with_sessions else "")
    return await _public_feed(
        request, ("event", slug, with_sessions), feeds.event_feed, slug, source=source, with_sessions=with_sessions
    )


@shared_page
async def show_session_calendar(request: Request) -> Response:
    slug, key = request.path_params["slug"], request.path_params["key"]
    return await _public_feed(request, ("session", slug, key), feeds.session_feed, slug, key, source=request.url.path)


# Companion apps on the web read the schedule from the browser: it is public, read-only data.
SCHEDULE_HEADERS = {"Access-Control-Allow-Origin": "*"}


@shared_page
async def show_schedule_xml(request: Request) -> Response:
    slug = request.path_params["slug"]
    return await _public_feed(request, ("schedule.xml", slug), schedule.schedule_xml, slug, extra=SCHEDULE_HEADERS)


@shared_page
async def show_schedule_json(request: Request) -> Response:
    slug = request.path_params["slug"]
    return await _public_feed(request, ("schedule.json", slug), schedule.schedule_json, slug, extra=SCHEDULE_HEADERS)


@shared_page
async def show_announcements(request: Request) -> Response:
    return await _public_feed(request, ("atom",), feeds.announcements)


async def show_personal_calendar(request: Request) -> Response:
    """The participant's own feed: built per request, never kept in the shared cache."""
    token = request.path_params["token"]
    entry = await _built(request, feeds.personal_feed, token, source=request.url.path)
    return _respond(request, entry, PRIVATE_CACHE, PRIVATE_HEADERS)


routes = [
    public_route("show_calendar", show_calendar, methods=METHODS),
    public_route("show_programme_calendar", show_programme_calendar, methods=METHODS),
    public_route("show_event_calendar", show_event_calendar, methods=METHODS),
    public_route("show_session_calendar", show_session_calendar, methods=METHODS),
    public_route("show_schedule_xml", show_schedule_xml, methods=METHODS),
    public_route("show_schedule_json", show_schedule_json, methods=METHODS),
    public_route("show_personal_calendar", show_personal_calendar, methods=METHODS),
    public_route("show_announcements", show_announcements, methods=METHODS),
]

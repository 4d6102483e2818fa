"""Shared public answers, kept per process and served in front of the whole app.

Public pages and public feeds look the same to every visitor, so one answer can serve every
request until the data changes. A handler says its answer may be shared with `shared_page`;
`SharedResponseCache`, the outermost of the portal's middlewares, keeps the final answer
(security headers, compression and all) and serves the next identical request from memory
without routing, rendering or any query. That is what makes a cached page nearly as cheap
as a bare "hello" (bench/README.md).

An answer is kept under the data's change version (portal/changes.py) and the current
minute: a write made in this process is seen by the very next request, a write made by
another process within PORTAL_CACHE_SECONDS, and what changes with the clock alone
("Registration closes…" becoming "Closed") within a minute.

A registration does not move the change version: it changes one event's seat counts. A page
that shows seat counts says whose (`shows_seats`), and is kept with the epoch at which this
process last changed each of those events' seats: a registration here drops the pages that
show that event's seats, and no other page or feed. Another process's registrations are
not seen here, so such a page is kept at most PORTAL_CACHE_SECONDS, the delay a change made
elsewhere always had.

The key holds everything a shared answer may depend on: method, scheme, Host (pages carry
absolute links, so one Host must never see links made for another), path, query, whether the
client takes gzip, and the conditional headers (so a feed's 304 is kept like any answer).
Each header is read as the application reads it: security.OneValuePerHeader, in front of
this cache, refuses a second Host or If-Modified-Since and joins repeated list headers, so
there is one value to read. An answer that sets a cookie is never kept.

Only the handler decides whether an address may be kept: `shared_page` says yes, and a
handler without it says no (the address is then passed straight through from then on). An
answer that never reached a handler (a 413 for a large body, a 400 from a middleware) decides
nothing, so no request can switch the cache off for a page.

Memory is bounded in bytes, keys included: a key is a SHA-256 digest of its parts, whatever
the length of the query or headers a client sends, and every kept answer counts its body,
headers, key and bookkeeping against MAX_BYTES; the addresses known to be private are kept
as digests too, at most MAX_PRIVATE of them.

When many requests miss on the same key at once (a process starting under load, the first
requests after a write) one renders and the others wait for its answer rather than each
rendering the same page.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.changes import ChangeTracker

Handler = Callable[[Request], Awaitable[Response]]
Key = bytes

SHARED = "shared_page"
# The change version this request's answer is stamped with, for handlers that key their own
# caches by it (the feeds): one read of the change marker per request, not two.
VERSION = "change_version"
# The events whose seat counts the page shows (shows_seats).
SEATS = "shows_seats"
# Request headers a shared answer may depend on, besides the address.
_VARY_ON = (b"host", b"if-none-match", b"if-modified-since")
# Larger answers are sent but not kept (the full site feed, 2 MB plain, is under this).
MAX_ENTRY_BYTES = 4 * 1024 * 1024
# With the feed cache (8 MB) and the VEVENT blocks (about 9 MB for 10,000 events) this keeps a
# worker under 120 MB resident (bench/README.md).
MAX_BYTES = 16 * 1024 * 1024
# What a kept answer costs beyond its bytes and key: the entry, its message dict and the
# OrderedDict's node (measured with tracemalloc: about 600 bytes).
ENTRY_OVERHEAD = 640
# Addresses whose handler is not a shared page, each a 32-byte digest (about 120 bytes with
# the OrderedDict's node): 10,000 of them cost about 1.2 MB.
MAX_PRIVATE = 10_000


async def change_version(request: Request) -> int:
    """The change version the request's answer will be kept under (read once per request)."""
    version = request.scope.get("state", {}).get(VERSION)
    if version is None:
        version = await request.app.state.changes.current()
    return version


def shows_seats(request: Request, event_ids: Iterable[int]) -> None:
    """Say that this page shows these events' seat counts (or what follows from them: "Full",
    the waiting list): it is then kept only while they stay as they were."""
    request.scope.setdefault("state", {}).setdefault(SEATS, set()).update(event_ids)


def shared_page(handler: Handler) -> Handler:
    """Mark a handler's answers as the same for every visitor, so they may be kept and shared."""

    async def wrapper(request: Request) -> Response:
        request.scope.setdefault("state", {})[SHARED] = True
        return await handler(request)

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper


@dataclass(frozen=True, slots=True)
class _Entry:
    version: int
    minute: int
    start: Message
    body: bytes
    # (event id, the epoch of this process's last change to its seats) for each event whose
    # seats the page shows; and when the page must be rendered again regardless, to see
    # other processes' registrations (monotonic seconds; inf for a page showing no seats).
    seats: tuple[tuple[int, int], ...] = ()
    expires: float = float("inf")

    @property
    def size(self) -> int:
        headers = sum(len(k) + len(v) for k, v in self.start["headers"])
        return len(self.body) + headers + 32 + ENTRY_OVERHEAD + 64 * len(self.seats)


class SharedResponseCache:
    """ASGI middleware: serve kept answers of `shared_page` handlers (see the module doc)."""

    def __init__(self, app: ASGIApp, *, changes: ChangeTracker, max_bytes: int = MAX_BYTES) -> None:
        self.app = app
        self.changes = changes
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._bytes = 0
        self._pending: dict[Key, asyncio.Event] = {}
        # Addresses whose handler is not a shared page (forms, private pages): passed straight
        # through, never waited on. Bounded: anyone can make up addresses.
        self._private: OrderedDict[Key, None] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _key(scope: Scope) -> Key:
        """A digest of what the answer may depend on: fixed in size whatever a client sends.
        Each part is length-prefixed, so no two different requests join into the same bytes.
        Only GET answers are kept, and HEAD is answered from them: both share one key."""
        wanted = dict.fromkeys(_VARY_ON, b"")
        gzip = b""
        for name, value in scope["headers"]:
            if name in wanted:
                wanted[name] = value
            elif name == b"accept-encoding" and b"gzip" in value:
                gzip = b"gzip"
        digest = hashlib.sha256()
        for part in (
            scope.get("scheme", "http").encode(),
            scope.get("root_path", "").encode() + scope.get("raw_path", scope["path"].encode()),
            scope.get("query_string", b""),
            gzip,
            *wanted.values(),
        ):
            digest.update(len(part).to_bytes(4, "big"))
            digest.update(part)
        return digest.digest()

    def _fresh(self, key: Key, version: int, minute: int) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.version != version or entry.minute != minute or self._seats_moved(entry):
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def _seats_moved(self, entry: _Entry) -> bool:
        if not entry.seats:
            return False
        if time.monotonic() >= entry.expires:
            return True
        changed_at = self.changes.seats_changed_at
        return any(changed_at(event_id) != epoch for event_id, epoch in entry.seats)

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    def _keep(self, key: Key, entry: _Entry) -> None:
        self._drop(key)
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        key = self._key(scope)
        version = await self.changes.current()
        minute = int(time.time() // 60)
        if scope["method"] == "HEAD":
            # HEAD gets a kept GET's headers; on a miss it is answered by the app, not kept.
            entry = self._fresh(key, version, minute)
            if entry is None:
                await self.app(scope, receive, send)
                return
            self.hits += 1
            await send(entry.start)
            await send({"type": "http.response.body", "body": b""})
            return
        if key in self._private:
            await self.app(scope, receive, send)
            return
        entry = self._fresh(key, version, minute)
        if entry is None and key in self._pending:
            # Someone is rendering this very answer: wait for it rather than render it too.
            await self._pending[key].wait()
            entry = self._fresh(key, version, minute)
        if entry is not None:
            self.hits += 1
            await send(entry.start)
            await send({"type": "http.response.body", "body": entry.body})
            return
        self.misses += 1
        scope.setdefault("state", {})[VERSION] = version
        done = asyncio.Event()
        leader = key not in self._pending
        if leader:
            self._pending[key] = done
        try:
            await self._render(scope, receive, send, key, version, minute)
        finally:
            if leader:
                del self._pending[key]
                done.set()

    async def _render(self, scope: Scope, receive: Receive, send: Send, key: Key, version: int, minute: int) -> None:
        # Read before rendering, like the version: a registration committed meanwhile makes
        # the page older than its record says, and it is then not kept.
        epoch = self.changes.seats_epoch
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        keep = True

        async def capture(message: Message) -> None:
            nonlocal start, size, keep
            if message["type"] == "http.response.start":
                start = message
                keep = message["status"] in (200, 304) and not any(
                    name.lower() == b"set-cookie" for name, _ in message.get("headers", [])
                )
            elif message["type"] == "http.response.body" and keep:
                body = message.get("body", b"")
                size += len(body)
                if size > MAX_ENTRY_BYTES:
                    keep = False
                    chunks.clear()
                else:
                    chunks.append(body)
            await send(message)

        await self.app(scope, receive, capture)
        if not scope.get("state", {}).get(SHARED):
            # Only a handler's own answer says the address is private. Routing puts the
            # handler in the scope; an answer from before routing (a 413 for a body too
            # large, a middleware's 400) leaves it out and decides nothing.
            if "endpoint" in scope:
                self._private[key] = None
                while len(self._private) > MAX_PRIVATE:
                    self._private.popitem(last=False)
            return
        if keep and start is not None:
            # Stamped with the version read before rendering: if anything was written
            # meanwhile, this answer is already out of date when the write becomes known.
            seats = tuple(sorted((e, self.changes.seats_changed_at(e)) for e in scope["state"].get(SEATS, ())))
            if any(changed > epoch for _, changed in seats):
                return
            expires = time.monotonic() + self.changes.interval if seats else float("inf")
            headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", [])]
            kept_start = {"type": "http.response.start", "status": start["status"], "headers": headers}
            self._keep(key, _Entry(version, minute, kept_start, b"".join(chunks), seats, expires))

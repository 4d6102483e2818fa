"""A per-process cache of rendered public pages, keyed by the data's change version.

Public pages look the same to every visitor, so one rendering can serve every request until
the data changes. The key holds the change version (portal/changes.py): a write made in this
process is seen by the next request at once, a write made by another process within
PORTAL_CACHE_SECONDS. The key also holds the current minute, because what a page says can
change with the clock alone ("Registration closes…" becomes "Closed").
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

Key = tuple[str, str, int, int]
Handler = Callable[[Request], Awaitable[Response]]

# Headers a cached page must never carry to another visitor.
_PRIVATE_HEADERS = {b"set-cookie"}


class PageCache:
    def __init__(self, max_entries: int = 2000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, tuple[int, bytes, list[tuple[bytes, bytes]]]] = OrderedDict()

    def get(self, key: Key) -> Response | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        status, body, headers = entry
        response = Response(body, status_code=status)
        response.raw_headers = list(headers)
        return response

    def put(self, key: Key, response: Response) -> None:
        if response.status_code != 200 or not hasattr(response, "body"):
            return
        headers = [(k, v) for k, v in response.raw_headers if k.lower() not in _PRIVATE_HEADERS]
        self._entries[key] = (response.status_code, bytes(response.body), headers)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


def cached_page(handler: Handler) -> Handler:
    """Serve a public GET page from the cache while the data has not changed."""

    async def wrapper(request: Request) -> Response:
        state = request.app.state
        version = await state.changes.current()
        key = (request.url.path, request.url.query, version, int(time.time() // 60))
        cache: PageCache = state.page_cache
        hit = cache.get(key)
        if hit is not None:
            return hit
        response = await handler(request)
        # A page that made a CSRF cookie is specific to this visitor: never share it.
        if "csrf_new_cookie" not in request.scope.get("state", {}):
            cache.put(key, response)
        return response

    wrapper.__name__ = handler.__name__
    wrapper.__doc__ = handler.__doc__
    return wrapper

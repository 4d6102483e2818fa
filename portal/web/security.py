"""What every request passes on its way in and out: one value per request header, security
headers on every response, a limit on the size of what a client may send, and who the client
is (for rate limits)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: everything the pages need is under /static/.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def security_headers(*, https: bool) -> dict[str, str]:
    """The headers every response carries. HSTS only when the portal is served over https:
    sent over plain http it would be ignored, or, behind a proxy that adds TLS later, lock
    browsers out of a site that is not ready for it."""
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        # The manage pages' addresses hold private tokens: never send them to another site.
        "Referrer-Policy": "same-origin",
        # For browsers too old for CSP's frame-ancestors.
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


class SecurityHeadersMiddleware:
    """Adds security_headers() to every response that passes through it. The one response
    that cannot pass through a middleware, Starlette's answer to an unhandled exception, adds
    them itself (app.py)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = security_headers(https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Request headers that may appear once: a second copy is refused, since there is no telling
# which one a proxy, the page cache and the application would each believe (RFC 9112 asks a
# server to refuse a second Host with 400).
SINGLE_HEADERS = frozenset({
    b"host", b"if-modified-since", b"if-unmodified-since", b"if-range", b"content-length", b"content-type", b"authorization",
})
# List-valued headers: repeated copies mean the same as one copy holding every value, so they
# are joined into one (RFC 9110, 5.3), and every reader (the page cache's key, Starlette's
# request.headers, which reads only the first copy) sees the same value. Cookie pairs are
# joined with "; " (RFC 9113 splits them that way; RFC 6265 sends one header).
JOINED_HEADERS = {
    b"if-none-match": b", ", b"if-match": b", ", b"accept-encoding": b", ", b"accept": b", ",
    b"accept-language": b", ", b"cache-control": b", ", b"cookie": b"; ",
}


class OneValuePerHeader:
    """The one rule for repeated request headers, applied before anything reads them (it is
    the outermost middleware, in front of the page cache): a repeated single-valued header is
    refused with 400; a repeated list-valued one is joined into one header."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in security_headers(https=https).items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen: set[bytes] = set()
        repeated: set[bytes] = set()
        for name, _ in scope["headers"]:
            if name in seen:
                repeated.add(name)
            seen.add(name)
        if repeated:
            refused = sorted(repeated & SINGLE_HEADERS)
            if refused:
                await self._refuse(send, refused[0].decode("latin-1"))
                return
            scope["headers"] = _joined(scope["headers"], repeated)
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, name: str) -> None:
        body = f"Bad request: more than one {name} header.".encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), (b"cache-control", b"no-store"), *self.headers,
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _joined(headers: list[tuple[bytes, bytes]], repeated: set[bytes]) -> list[tuple[bytes, bytes]]:
    """The headers with each repeated one as a single header, at its first place, its values
    joined in the order they came."""
    values: dict[bytes, list[bytes]] = {}
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name in repeated:
            if name not in values:
                values[name] = []
                out.append((name, b""))
            values[name].append(value)
        else:
            out.append((name, value))
    return [(name, JOINED_HEADERS.get(name, b", ").join(values[name])) if name in values else (name, value) for name, value in out]


class RejectNulMiddleware:
    """No page's address holds a NUL byte, and PostgreSQL refuses it in text: answer 404 here,
    once, rather than a 500 from whichever handler passes it to a query. A NUL in the query
    string (%00) is dropped here, for every handler at once: a search for "a%00b" is a
    search for "ab". (Form fields refuse control characters in their validators.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"%00" in query or b"\x00" in query:
            # Until none is left: dropping one "%00" from "%%0000" makes another.
            while (cleaner := query.replace(b"%00", b"").replace(b"\x00", b"")) != query:
                query = cleaner
            scope["query_string"] = query
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "")
        ):
            body = b"Not found."
            await send({"type": "http.response.start", "status": 404, "headers": [
                (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail="What you sent is larger than the portal accepts.")


class BodyLimitMiddleware:
    """Refuse a request body over `max_bytes` with the portal's own 413 page.

    Starlette's `max_body_size` answers with a bare text/plain "Content Too Large" that is
    sent around every middleware, so it also went out without the security headers. Here a
    declared Content-Length over the limit is answered at once by `too_large` (the error
    page), before any handler runs; a body sent without one (chunked) is counted as it is
    read, and the read that passes the limit raises BodyTooLarge, which the app's
    HTTPException handler turns into the same page.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, too_large: Callable[[Request], Response], multipart_max_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.too_large = too_large
        # A body that may carry files (a form's file questions) has a limit of its own.
        self.multipart_max_bytes = multipart_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        multipart = headers.get("content-type", "").lower().startswith("multipart/form-data")
        limit = self.multipart_max_bytes if multipart else self.max_bytes
        declared = headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > limit:
            response = self.too_large(Request(scope))
            # The body is not read: tell the client the connection will not be reused.
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return

        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, counted, send)


def client_address(request: Request) -> str:
    """The client's address as rate limits count it. Behind a proxy this is the address it
    forwards, when uvicorn is told to trust the proxy (FORWARDED_ALLOW_IPS). An IPv6 client
    is counted by its /64 network: one host usually holds a whole /64, and would otherwise
    have 2**64 addresses to spread its requests over."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100] or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network((address, 64), strict=False))
    return str(address)

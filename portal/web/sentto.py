"""The email address a public form was sent for, carried across its POST → redirect → GET so
that the page after it can show the visitor the address they typed (and so catch a typo).

It travels in a short-lived cookie signed with the secret key: not in the URL, where it would
be kept in server logs, browser history and Referer headers, and never with anything the
portal holds about the address (no registration, no token). The cookie holds exactly what
the visitor typed and sent, so it tells them nothing they did not know; it is scoped to the
one page that reads it and expires after a few minutes.
"""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "portal_sent_to"
MAX_AGE = 10 * 60  # seconds


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(request.app.state.settings.secret_key), salt="portal.sent-to")


def remember(request: Request, response: Response, email: str, path: str) -> Response:
    """Keep `email` for the page at `path` (the redirect's target) to show."""
    response.set_cookie(
        COOKIE, _signer(request).dumps(email.strip()), max_age=MAX_AGE, path=path, httponly=True, samesite="lax",
        secure=request.app.state.settings.https,
    )
    return response


def recall(request: Request) -> str | None:
    """The address kept by remember(), or None when there is none (expired, forged, or a
    visitor who came to the page some other way)."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        email = _signer(request).loads(value, max_age=MAX_AGE)
    except BadSignature:
        return None
    return email if isinstance(email, str) and 0 < len(email) <= 254 else None

"""Query parameters read the same way on every page: a page number and a short text."""

from __future__ import annotations

import re

from starlette.requests import Request

from portal.forms.fields import MAX_TEXT

_PAGE = re.compile(r"[0-9]{1,5}")


def page_number(request: Request) -> int:
    """The `page` parameter, or 1. Only ASCII digits: str.isdigit() also accepts "²" and
    "①", which int() refuses (a 500 where a visitor typed a page number)."""
    raw = request.query_params.get("page", "1")
    return max(int(raw), 1) if _PAGE.fullmatch(raw) else 1


def text_param(request: Request, name: str) -> str | None:
    """A text parameter, trimmed and cut to MAX_TEXT characters, or None when empty.
    NUL is dropped: PostgreSQL refuses it in text (the NUL middleware drops it too)."""
    value = request.query_params.get(name, "").replace("\x00", "").strip()
    return value[:MAX_TEXT] or None

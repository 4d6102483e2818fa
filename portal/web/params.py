"""Query parameters read the same way on every page: a page number, a short text, a date."""

from __future__ import annotations

import re
from datetime import date

from starlette.exceptions import HTTPException
from starlette.requests import Request

from portal.forms.fields import MAX_TEXT

_PAGE = re.compile(r"[0-9]{1,5}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


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


def date_param(request: Request, name: str) -> date | None:
    """A `YYYY-MM-DD` parameter as a date, or None when empty; anything else is a 400 that
    names the parameter and the shape it takes (a link typed by hand, or an old bookmark)."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        value = date.fromisoformat(raw)
    except ValueError:
        raise HTTPException(400, f"“{name}” must be a date written as YYYY-MM-DD, such as 2027-03-08.") from None
    if not 2000 <= value.year <= 2100:
        raise HTTPException(400, f"“{name}” must be a date between the years 2000 and 2100.")
    return value


def date_range_params(request: Request) -> tuple[date | None, date | None]:
    """`from` and `to`, the first and last days a listing covers (either may be missing)."""
    first, last = date_param(request, "from"), date_param(request, "to")
    if first is not None and last is not None and last < first:
        raise HTTPException(400, "“to” is before “from”: the last day must be on or after the first.")
    return first, last

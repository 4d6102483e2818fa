"""A back-office form whose session ran out before it arrived, kept across signing in.

An organiser who types for a long while and then presses Save may find the session over.
Rather than lose what was typed, the guard (auth.py) answers that POST with the sign-in page,
which carries the form's fields as hidden inputs named `kept:<field>`, with the address it
was sent to. Once signed in, the organiser sees a page that holds them in a form posted to
that address with a fresh CSRF token: "Save them now". Nothing is sent on their behalf; they
press the button, so they also see what will be saved and to which page, and can discard it.

Kept only from a POST whose CSRF token is right: a page on another site cannot plant fields
to be saved after the organiser signs in. Never kept: the CSRF token (a new one is issued at
sign-in), passwords (the form is not resumed: the organiser types them again) and files (a
browser cannot put a file back in a form; the page says which must be chosen again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from portal.web import csrf

PREFIX = "kept:"
TARGET = "kept_to"  # the address the form was sent to
FROM = "kept_from"  # the page it was sent from, for "discard them"
FILES = "kept_files"  # the file boxes that had a file chosen
# More than a long event description; the sign-in page and the save page each carry it all.
MAX_CHARS = 100_000
MAX_FIELDS = 200
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

Safe = Callable[[str | None], str | None]


@dataclass(frozen=True)
class KeptForm:
    target: str
    back: str | None
    fields: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()
    # Why the fields could not be kept ("password", "size"), or None when they were.
    lost: str | None = None

    @property
    def keeps(self) -> bool:
        return self.lost is None and bool(self.fields)


def _secret(name: str) -> bool:
    return name == csrf.FIELD or "password" in name.lower()


def _password_form(fields: list[tuple[str, str]]) -> bool:
    # The change-password form's fields are `current`, `new` and `confirm`.
    names = {name for name, _ in fields}
    return any("password" in name.lower() for name in names) or {"current", "new"} <= names


def _hold(target: str, back: str | None, fields: list[tuple[str, str]], files: list[str]) -> KeptForm:
    if _password_form(fields):
        return KeptForm(target, back, lost="password")
    kept = tuple((n, v) for n, v in fields if not _secret(n))
    if len(kept) > MAX_FIELDS or sum(len(n) + len(v) for n, v in kept) > MAX_CHARS:
        return KeptForm(target, back, lost="size")
    return KeptForm(target, back, kept, tuple(dict.fromkeys(files)))


def _referer(request: Request, safe: Safe) -> str | None:
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc:
        return None
    return safe(referer.path + (f"?{referer.query}" if referer.query else ""))


async def from_refused_post(request: Request, safe: Safe) -> KeptForm | None:
    """What a form POST refused for want of a session can keep; None when it is not a form,
    its CSRF token is wrong, or it cannot be read (the guard then answers as before)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() not in _FORMS:
        return None
    target = safe(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if target is None:
        return None
    try:
        form = await csrf.read_form(request, max_files=MAX_FIELDS, max_fields=MAX_FIELDS * 2)
    except HTTPException:
        return None
    fields: list[tuple[str, str]] = []
    files: list[str] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if value.filename:
                files.append(name)
        else:
            fields.append((name, value))
    await form.close()
    return _hold(target, _referer(request, safe), fields, files)


def from_sign_in(form: FormData, safe: Safe) -> KeptForm | None:
    """The kept form the sign-in page sent back with the email and password, if any."""
    raw = form.get(TARGET)
    target = safe(raw if isinstance(raw, str) else None)
    if target is None:
        return None
    back = form.get(FROM)
    fields = [(n[len(PREFIX):], v) for n, v in form.multi_items() if n.startswith(PREFIX) and isinstance(v, str)]
    files = [v for v in form.getlist(FILES) if isinstance(v, str)]
    held = _hold(target, safe(back if isinstance(back, str) else None), fields, files)
    return held if held.keeps else None

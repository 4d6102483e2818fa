"""Files the portal stores for people (uploads, sealed or not): each under a random name,
readable by the portal's user only. One place for the name's shape and the private write,
on the lowest floor, so that the form store (which seals files when a question becomes
sensitive) and the registrations' uploads write them the same way."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

# What a stored name looks like (secrets.token_urlsafe(24)); anything else is not ours.
STORED_NAME = re.compile(r"^[A-Za-z0-9_-]{32}$")


def stored_path(directory: Path, stored_name: str) -> Path | None:
    """Where a stored file lies, or None for a name the portal could not have given."""
    return directory / stored_name if STORED_NAME.match(stored_name or "") else None


def save_private(directory: Path, content: bytes, *, suffix: str = "") -> str:
    """Write `content` under a new random name (ending in `suffix`) in `directory` (made if
    missing, private to the portal's user); returns the name."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    while True:
        name = secrets.token_urlsafe(24) + suffix
        try:
            fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # pragma: no cover - 192 random bits
            continue
        break
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
    except BaseException:
        (directory / name).unlink(missing_ok=True)
        raise
    return name


def replace_private(path: Path, content: bytes) -> None:
    """Write `content` over the file at `path` at once (beside it, then renamed), private to
    the portal's user: the file is whole, old or new, at every moment."""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a leftover of a stopped run may have been made otherwise
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

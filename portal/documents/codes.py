"""Codes people read, type and read aloud: tickets' check-in codes and certificates'
verification codes. Crockford's base 32 from `secrets` (no I, L, O or U, so a code read
aloud or typed is hard to get wrong); what someone types is read forgivingly: any case,
spaces and hyphens (and for a kind of code that says so, dots and underscores), I or L for 1,
O for 0."""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ALLOWED = frozenset(ALPHABET)
# What people type for what they read: a letter for the digit it looks like.
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = {False: re.compile(r"[\s\-]+"), True: re.compile(r"[\s\-_.]+")}
# Longer than anything a person could mean as a code, separators included.
_MAX_TYPED = 60


def new(length: int) -> str:
    """A new random code of `length` characters."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalise(text: object, length: int, *, dots: bool = False) -> str | None:
    """The code someone typed, as stored; None when it cannot be a code of `length`. With
    `dots`, dots and underscores separate groups too."""
    if not isinstance(text, str) or len(text) > _MAX_TYPED:
        return None
    code = _SEPARATORS[dots].sub("", text).upper().translate(_LOOKALIKES)
    if len(code) != length or not _ALLOWED.issuperset(code):
        return None
    return code


def grouped(code: str, size: int) -> str:
    """A code as people read it, in groups of `size`: 7K3QX-2M49D, 7K3Q-X2M4-9DAB."""
    return "-".join(code[i:i + size] for i in range(0, len(code), size))

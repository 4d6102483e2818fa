"""A ticket's check-in code and what its QR code holds.

The check-in code admits someone at the door and does nothing else: it is not the manage
token (a ticket shown on a screen or printed on a badge must not open the registration, and
the private link must not admit anyone). Ten characters of Crockford's base 32 (50 bits from
`secrets`), shown to people as two groups of five; what someone types is read forgivingly
(lower case, spaces and hyphens, I or L for 1, O for 0). The QR code holds `PTK1:` and the
code, so that the door's scanner can tell the portal's tickets from any other QR code.

Here, below the registrations and the mail, so that emails, badges and the door read codes
the same way; registrations.tickets gives a registration its code.
"""

from __future__ import annotations

from portal.documents import codes

ALPHABET = codes.ALPHABET
LENGTH = 10
PREFIX = "PTK1:"


def new_code() -> str:
    """A new random check-in code."""
    return codes.new(LENGTH)


def normalise_code(text: str) -> str | None:
    """The code someone typed or read aloud, as stored; None when it cannot be one."""
    return codes.normalise(text, LENGTH)


def display_code(code: str) -> str:
    """A code as people read it: 7K3QX-2M49D."""
    return codes.grouped(code, 5)


def payload(code: str) -> str:
    """What the ticket's QR code holds: PTK1:7K3QX2M49D (QR's alphanumeric mode, so small)."""
    return PREFIX + code


def code_from_payload(text: str) -> str | None:
    """The check-in code in a scanned QR code; None when it is not one of the portal's tickets."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text[: len(PREFIX)].upper() != PREFIX:
        return None
    return normalise_code(text[len(PREFIX):])

"""Sealing personal data at rest: the data keys (PORTAL_DATA_KEY, newest first) and what they
encrypt, which is a registration's sensitive answers and the files sent with sensitive
questions.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) rather than a cipher put together
here: a token says which key made it only by whether it opens, so MultiFernet tries the keys
in turn, encrypts with the first and re-encrypts an old token with `rotate`.

This module sits on the lowest floor (settings reads the keys with it); portal.datakeys,
above the models, checks them against the database and re-encrypts with `portal data rekey`.
The keys reach services through the database session (`session.info["keyring"]`, set by
db.make_session_factory), so a service that seals needs no extra argument, and a session
made without keys fails loudly at the first seal rather than writing plaintext.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.orm import Session


class DataKeyError(RuntimeError):
    """The data keys cannot be used: malformed, or not the ones this database's data was
    sealed with. Raised before the portal serves anything."""


class SealedDataError(RuntimeError):
    """A sealed value that none of the keys opens (a key was dropped too early)."""


def new_key() -> str:
    """A fresh data key, as PORTAL_DATA_KEY holds it."""
    return Fernet.generate_key().decode("ascii")


def check_key(text: str) -> str:
    """The key, stripped, if it is one Fernet takes (32 bytes in URL-safe base64); ValueError
    otherwise (the message never quotes the key)."""
    key = text.strip()
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError("is not a data key: each is 32 bytes in URL-safe base64 (44 characters), as `portal data new-key` prints")
    return key


@dataclass(frozen=True)
class Keyring:
    """The data keys, newest first: the newest seals, any of them opens."""

    keys: tuple[str, ...]
    _fernet: MultiFernet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a keyring needs at least one key")
        object.__setattr__(self, "_fernet", MultiFernet([Fernet(k.encode("ascii")) for k in self.keys]))

    def seal(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def open(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SealedDataError(
                "Sealed data cannot be opened with the data keys set: keep every key in PORTAL_DATA_KEY until `portal data rekey` has run"
            ) from None

    def reseal(self, token: bytes) -> bytes:
        """The same data sealed with the newest key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise SealedDataError("Sealed data cannot be opened with the data keys set") from None

    def sealed_by_newest(self, token: bytes) -> bool:
        try:
            Fernet(self.keys[0].encode("ascii")).decrypt(token)
        except InvalidToken:
            return False
        return True

    def seal_json(self, value: dict[str, Any]) -> str:
        return self.seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).decode("ascii")

    def open_json(self, token: str) -> dict[str, Any]:
        value = json.loads(self.open(token.encode("ascii")))
        return value if isinstance(value, dict) else {}


def keyring_of(session: Session) -> Keyring:
    """The keys the session's factory was given; a clear error if it was given none."""
    keyring = session.info.get("keyring")
    if not isinstance(keyring, Keyring):
        raise DataKeyError("This database session has no data keys: make it with make_session_factory(engine, keyring=...)")
    return keyring

"""Passwords: the rules a new one must meet, and Argon2id hashing and checking."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.errors import InvalidInput

# Argon2id with the library's current recommended parameters. When they change, a password
# is rehashed with the new ones at its owner's next sign-in.
HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with parameters older than HASHER's."""
    return HASHER.check_needs_rehash(password_hash)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"A password can have at most {MAX_PASSWORD_LENGTH} characters.")


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    # Verified against when the account does not exist, so that an unknown address takes as
    # long to refuse as a wrong password and the timing tells nothing.
    return HASHER.hash(secrets.token_urlsafe(16))


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False

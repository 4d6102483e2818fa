"""Text rules that several floors share: how an email address is compared, what a slug or
programme code may look like, how a search needle becomes a LIKE pattern, and what the
words of a full-text search are."""

from __future__ import annotations

import re
import unicodedata

# Lowercase letters and digits in words joined by single hyphens: event slugs, programme codes
# and categories. The form's Regexp validator takes the pattern, the services the compiled one.
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG = re.compile(SLUG_PATTERN)


def normalise_email(email: str) -> str:
    """The form an address is stored and compared in: no surrounding space, lower case."""
    return email.strip().lower()


def like_pattern(text: str) -> str:
    """`%text%` for LIKE ... ESCAPE '\\', lower-cased and stripped, with LIKE's own
    wildcards in the text matched literally."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Letters and digits in any script; everything else (spaces, punctuation, symbols, emoji,
# the search engines' operators) only separates words.
_WORD = re.compile(r"[^\W_]+")
# A search is every word at once; past this many, more words would only narrow it further
# while each costs another look-up in the index.
MAX_SEARCH_WORDS = 10
MAX_WORD_LENGTH = 100


def search_words(text: str) -> list[str]:
    """The words of a full-text search, in the order typed: runs of letters and digits (in
    NFC, so an accent typed as a separate mark stays in its word), each once whatever its
    case, at most MAX_SEARCH_WORDS. Nothing else survives, so no input is a query syntax.
    NUL is dropped, not a space, as the web's parameters drop it (web/params.py)."""
    words: dict[str, str] = {}
    for word in _WORD.findall(unicodedata.normalize("NFC", text.replace("\x00", ""))):
        words.setdefault(word.lower(), word[:MAX_WORD_LENGTH])
    return list(words.values())[:MAX_SEARCH_WORDS]

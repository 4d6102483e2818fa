"""Text rules that several floors share: how an email address is compared, what a slug or
programme code may look like, and how a search needle becomes a LIKE pattern."""

from __future__ import annotations

import re

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

"""Logging set-up: private registration tokens never reach a log line."""

from __future__ import annotations

import logging
import re
from typing import Any

_TOKEN_PATH = re.compile(r"(/registrations/)[A-Za-z0-9_\-]{8,}")
# A private token on its own (secrets.token_urlsafe(32): 43 characters), as a database error
# quotes it among a query's parameters. Session keys and CSRF cookies have the same shape.
_BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])")


def redact(text: str) -> str:
    return _BARE_TOKEN.sub("[private]", _TOKEN_PATH.sub(r"\1[private]", text))


def _redact_arg(value: Any) -> Any:
    if isinstance(value, (int, float)) or value is None:
        return value
    text = str(value)
    clean = redact(text)
    # Keep the argument as it was unless it held a token (an exception, a URL object...).
    return clean if clean != text or isinstance(value, str) else value


class RedactTokens(logging.Filter):
    """Takes private tokens out of the message, its arguments and any traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_redact_arg(a) for a in record.args)
        if record.exc_info and not record.exc_text:
            # Formatted here, so that the handler's formatter prints this redacted text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for uvicorn and the portal, with the token filter on every handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "portal.logs.RedactTokens"}},
        "formatters": {
            "default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"format": "%(asctime)s %(levelname)s access: %(message)s"},
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["redact"], "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "filters": ["redact"], "stream": "ext://sys.stdout"},
            # Email written to the log because no mail server is configured (development):
            # its manage link is what the developer is looking for, so it is not redacted.
            "mail": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            "portal": {"handlers": ["default"], "level": level, "propagate": False},
            "portal.mail.log": {"handlers": ["mail"], "level": level, "propagate": False},
        },
    }

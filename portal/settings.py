"""Settings: one frozen object read from the environment and an optional .env file."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from starlette.datastructures import Secret

# Every variable the portal reads, with its documented default. The README must list each
# one; a test checks that it does.
VARIABLES = {
    "PORTAL_DATABASE_URL": "SQLite file under var/ in the working directory",
    "PORTAL_SECRET_KEY": "generated once and kept under var/",
    "PORTAL_BASE_URL": "http://127.0.0.1:8000",
    "PORTAL_SMTP_URL": "unset: email is queued and written to the log",
    "PORTAL_TIMEZONE": "Asia/Singapore",
    "PORTAL_MAIL_FROM": "portal@localhost",
    "PORTAL_SESSION_IDLE_MINUTES": "120",
    "PORTAL_CACHE_SECONDS": "1",
    "PORTAL_DELIVER_IN_PROCESS": "1 (on) while PORTAL_SMTP_URL is unset; 0 turns it off",
    "PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE": "20 (0: no limit)",
    "PORTAL_REGISTRATIONS_PER_EMAIL_PER_MINUTE": "5 (0: no limit)",
}


class SettingsError(ValueError):
    """A setting has a value the portal cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: Secret
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    timezone: str = "Asia/Singapore"
    mail_from: str = "portal@localhost"
    session_idle_minutes: int = 120
    # How long a process may trust its cached view of the database before asking whether
    # another process wrote to it. Writes made by the same process are seen at once.
    cache_seconds: float = 1.0
    # `portal serve` also delivers the outbox (to the log) every few seconds. Off unless
    # from_env turns it on, which it does only while no SMTP server is configured.
    deliver_in_process: bool = False
    # Registrations the public form takes per minute from one client address (an office
    # behind one NAT address sends several people at once: keep it generous) and for one
    # email address (stops the form being used to flood someone's inbox). 0: no limit.
    registrations_per_ip_per_minute: int = 20
    registrations_per_email_per_minute: int = 5
    var_dir: Path = field(default=Path("var"))

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
        """Read settings from the environment, falling back to ./.env, then to defaults."""
        cwd = cwd or Path.cwd()
        env: dict[str, str] = {}
        dotenv = cwd / ".env"
        if dotenv.is_file():
            env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        env.update(os.environ if environ is None else environ)

        var_dir = cwd / "var"
        database_url = env.get("PORTAL_DATABASE_URL") or f"sqlite:///{var_dir / 'portal.sqlite3'}"
        secret = env.get("PORTAL_SECRET_KEY") or _stored_secret(var_dir)
        base_url = (env.get("PORTAL_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise SettingsError("PORTAL_BASE_URL must start with http:// or https://")
        tz = env.get("PORTAL_TIMEZONE") or "Asia/Singapore"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"PORTAL_TIMEZONE {tz!r} is not a known time zone") from exc
        try:
            idle = int(env.get("PORTAL_SESSION_IDLE_MINUTES") or 120)
            cache_seconds = float(env.get("PORTAL_CACHE_SECONDS") or 1)
            per_ip = int(env.get("PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE") or 20)
            per_email = int(env.get("PORTAL_REGISTRATIONS_PER_EMAIL_PER_MINUTE") or 5)
        except ValueError as exc:
            raise SettingsError(f"a numeric setting is not a number: {exc}") from exc
        if per_ip < 0 or per_email < 0:
            raise SettingsError("a registrations-per-minute limit cannot be negative (0 turns it off)")
        smtp_url = env.get("PORTAL_SMTP_URL") or None
        return cls(
            database_url=database_url,
            secret_key=Secret(secret),
            base_url=base_url,
            smtp_url=smtp_url,
            timezone=tz,
            mail_from=env.get("PORTAL_MAIL_FROM") or "portal@localhost",
            session_idle_minutes=idle,
            cache_seconds=cache_seconds,
            deliver_in_process=smtp_url is None and _flag(env, "PORTAL_DELIVER_IN_PROCESS", default=True),
            registrations_per_ip_per_minute=per_ip,
            registrations_per_email_per_minute=per_email,
            var_dir=var_dir,
        )


def _flag(env: dict[str, str], name: str, *, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0, not {env[name]!r}")


def _stored_secret(var_dir: Path) -> str:
    """Return the secret kept under var/, creating it (readable by the owner only) once."""
    path = var_dir / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value

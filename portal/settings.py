"""Settings: one frozen object read from the environment and an optional .env file."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from dotenv import dotenv_values
from starlette.datastructures import Secret

from portal.sealing import Keyring, check_key, new_key
from portal.text import WEEKDAYS, Period, parse_period, reminder_schedule

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
    "PORTAL_SESSION_MAX_HOURS": "12",
    "PORTAL_CACHE_SECONDS": "1",
    "PORTAL_DELIVER_IN_PROCESS": "1 (on) while PORTAL_SMTP_URL is unset; 0 turns it off",
    "PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE": "20 (0: no limit)",
    "PORTAL_REGISTRATIONS_PER_EMAIL_PER_MINUTE": "5 (0: no limit)",
    "PORTAL_UPLOAD_DIR": "var/uploads in the working directory",
    "PORTAL_UPLOAD_REQUEST_MAX_MB": "25",
    "PORTAL_PHONE_REGION": "SG",
    "PORTAL_REMINDERS": "P2D (one reminder two days before the start; empty: none)",
    "PORTAL_DIGEST_WEEKDAY": "monday",
    "PORTAL_LIST_MAILBOX": "unset: List-Unsubscribe gives the HTTPS link only",
    "PORTAL_FAN_OUT_BATCH": "500",
    "PORTAL_ISSUER": "RSIS Events",
    "PORTAL_DATA_KEY": "generated once and kept under var/ (with a warning at start: production must set it and keep a copy)",
    "PORTAL_RETENTION": "P24M (personal data kept 24 months after an event ends, unless its programme says otherwise)",
    "PORTAL_BRANDING_DIR": "static/img in the checkout: the portal's own favicon, and the site's name as text for a logo",
}

# The portal's own favicon; no logo, so the header shows the site's name as text.
DEFAULT_BRANDING_DIR = Path(__file__).resolve().parent.parent / "static" / "img"

_DAYS = tuple(day.lower() for day in WEEKDAYS)


class SettingsError(ValueError):
    """A setting has a value the portal cannot use."""


@dataclass(frozen=True)
class SMTPServer:
    """PORTAL_SMTP_URL, read and checked: where `portal worker` sends email, and how."""

    host: str
    port: int
    # "tls": TLS from the first byte (smtps://). "starttls": the connection is upgraded before
    # anything else is said, and a server that does not offer STARTTLS gets nothing.
    # "none": never encrypted.
    security: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    # Trust this PEM bundle instead of the system's certificate authorities.
    cafile: str | None = None


SMTP_URL_FORM = "smtp://user:password@host:587 or smtps://user:password@host:465"


def parse_smtp_url(url: str) -> SMTPServer:
    """The SMTP server a PORTAL_SMTP_URL names, refusing any URL that would send the password
    in clear without saying so (tls=none). Messages never quote the URL: it holds a password."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise SettingsError(f"PORTAL_SMTP_URL has a port that is not a number; it must look like {SMTP_URL_FORM}") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or parts.path not in ("", "/"):
        raise SettingsError(f"PORTAL_SMTP_URL must look like {SMTP_URL_FORM}")
    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in ("tls", "starttls", "cafile") or name in params:
            raise SettingsError(
                f"PORTAL_SMTP_URL: {name!r} is unknown or repeated (it takes tls=starttls or tls=none, and cafile=/path/ca.pem)"
            )
        params[name] = value
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if password is not None and user is None:
        raise SettingsError(f"PORTAL_SMTP_URL has a password but no user; it must look like {SMTP_URL_FORM}")
    security = _smtp_security(parts.scheme, port, params, credentials=user is not None)
    cafile = params.get("cafile") or None
    if cafile is not None and security == "none":
        raise SettingsError("PORTAL_SMTP_URL: cafile has no use without TLS (add tls=starttls, or use smtps://)")
    if cafile is not None and not Path(cafile).is_file():
        raise SettingsError(f"PORTAL_SMTP_URL: cafile {cafile!r} is not a file")
    return SMTPServer(parts.hostname, port or (465 if parts.scheme == "smtps" else 25), security, user, password, cafile)


def _smtp_security(scheme: str, port: int | None, params: dict[str, str], *, credentials: bool) -> str:
    asked, legacy = params.get("tls"), params.get("starttls")
    if scheme == "smtps":
        if asked is not None or legacy is not None:
            raise SettingsError("PORTAL_SMTP_URL: smtps:// is TLS from the start; tls= and starttls= apply to smtp:// only")
        return "tls"
    if asked is not None and legacy is not None:
        raise SettingsError("PORTAL_SMTP_URL: say tls=starttls or tls=none, not starttls= as well")
    if asked is not None and asked not in ("starttls", "none"):
        raise SettingsError(f"PORTAL_SMTP_URL: tls must be starttls or none, not {asked!r}")
    if legacy is not None:
        # The older spelling, still read: starttls=1 is tls=starttls. starttls=0 is not the
        # tls=none that allows a password in clear: it predates that choice.
        flag = legacy.lower()
        if flag in ("1", "true", "yes"):
            return "starttls"
        if flag not in ("0", "false", "no"):
            raise SettingsError(f"PORTAL_SMTP_URL: starttls must be 1 or 0, not {legacy!r}")
        if credentials:
            raise SettingsError(
                "PORTAL_SMTP_URL turns STARTTLS off but has a user and password, which would then cross "
                "the network in clear: drop starttls=0 (STARTTLS is the default with a password), use "
                "smtps://, or add tls=none instead if the server is a relay on this host or a trusted network"
            )
        return "none"
    if asked is not None:
        return asked
    if port == 465:
        raise SettingsError("PORTAL_SMTP_URL: port 465 expects TLS from the start: use smtps://host:465")
    # A password never crosses the network in clear unless the URL says tls=none, whatever
    # the port; the submission port expects STARTTLS even from a client that does not log in.
    return "starttls" if credentials or port == 587 else "none"


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: Secret
    base_url: str = "http://127.0.0.1:8000"
    smtp_url: str | None = None
    timezone: str = "Asia/Singapore"
    mail_from: str = "portal@localhost"
    session_idle_minutes: int = 120
    # A session ends this long after signing in however active it is, so that a cookie kept
    # alive by a request now and then (a stolen one, say) does not last for ever.
    session_max_hours: int = 12
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
    # Where files sent with a form's file questions are kept (never under static/); None:
    # var_dir/uploads.
    upload_dir: Path | None = None
    # The largest request that carries files (multipart/form-data): every file of a form at
    # once. Other requests keep the small limit of app.MAX_BODY_BYTES.
    upload_request_max_bytes: int = 25_000_000
    # The country a phone number is read in when it does not start with + and a country code.
    phone_region: str = "SG"
    # The reminders an event has unless it says otherwise: ISO 8601 durations before its start.
    reminders: tuple[str, ...] = ("P2D",)
    # The day the weekly digest of new events goes out (0 Monday ... 6 Sunday), in PORTAL_TIMEZONE.
    digest_weekday: int = 0
    # A mailbox that unsubscribes whoever writes to it, offered as List-Unsubscribe's mailto:.
    list_mailbox: str | None = None
    # Recipients the worker writes to the outbox per transaction when it fans out a mailing.
    fan_out_batch: int = 500
    # Who issues certificates of attendance: the organisation named on each one.
    issuer: str = "RSIS Events"
    # Where the favicon (favicon.svg, favicon.ico) and the logo (logo.svg or logo.png) are
    # read from, once at start; web/branding.py serves them.
    branding_dir: Path = DEFAULT_BRANDING_DIR
    # The keys that seal sensitive answers (portal.sealing), newest first; empty: the
    # settings were made by hand (tests), and `keyring` makes one key from the secret key.
    data_keys: tuple[str, ...] = field(default=(), repr=False)
    # The key was made under var/ on this start, or read from there: production should set
    # PORTAL_DATA_KEY and keep a copy elsewhere (a lost key is lost data).
    data_key_from_var: bool = False
    # How long registrations are kept after an event ends, when its programme does not say.
    retention: Period = Period(months=24)

    @property
    def keyring(self) -> Keyring:
        if self.data_keys:
            return Keyring(self.data_keys)
        # Derived, so that settings made in code (tests) seal and open consistently.
        digest = hashlib.sha256(b"portal.data-key:" + str(self.secret_key).encode()).digest()
        return Keyring((base64.urlsafe_b64encode(digest).decode("ascii"),))

    @property
    def upload_directory(self) -> Path:
        return self.upload_dir if self.upload_dir is not None else self.var_dir / "uploads"

    @property
    def smtp_server(self) -> SMTPServer | None:
        """The SMTP server email goes to; None sends it to the log."""
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

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
            max_hours = int(env.get("PORTAL_SESSION_MAX_HOURS") or 12)
            cache_seconds = float(env.get("PORTAL_CACHE_SECONDS") or 1)
            per_ip = int(env.get("PORTAL_REGISTRATIONS_PER_IP_PER_MINUTE") or 20)
            per_email = int(env.get("PORTAL_REGISTRATIONS_PER_EMAIL_PER_MINUTE") or 5)
            upload_mb = float(env.get("PORTAL_UPLOAD_REQUEST_MAX_MB") or 25)
            fan_out_batch = int(env.get("PORTAL_FAN_OUT_BATCH") or 500)
        except ValueError as exc:
            raise SettingsError(f"a numeric setting is not a number: {exc}") from exc
        if max_hours < 1:
            raise SettingsError("PORTAL_SESSION_MAX_HOURS must be 1 or more")
        if per_ip < 0 or per_email < 0:
            raise SettingsError("a registrations-per-minute limit cannot be negative (0 turns it off)")
        if not 1 <= fan_out_batch <= 10_000:
            raise SettingsError("PORTAL_FAN_OUT_BATCH must be between 1 and 10000 (recipients per transaction)")
        if not 1 <= upload_mb <= 1000:
            raise SettingsError("PORTAL_UPLOAD_REQUEST_MAX_MB must be between 1 and 1000 (megabytes)")
        phone_region = (env.get("PORTAL_PHONE_REGION") or "SG").strip().upper()
        if phone_region not in phonenumbers.SUPPORTED_REGIONS:
            raise SettingsError(f"PORTAL_PHONE_REGION {phone_region!r} is not a two-letter country code phone numbers are known for")
        try:
            # Normalised as events' own are (p2d, P2D and PT48H are one reminder): a reminder's
            # mailing is named by it.
            reminders = reminder_schedule([r for r in (env.get("PORTAL_REMINDERS", "P2D") or "").split(",") if r.strip()])
        except ValueError as exc:
            raise SettingsError(f"PORTAL_REMINDERS: {exc}") from None
        weekday = (env.get("PORTAL_DIGEST_WEEKDAY") or "monday").strip().lower()
        if weekday not in _DAYS:
            raise SettingsError(f"PORTAL_DIGEST_WEEKDAY must be a day of the week in English (monday ... sunday), not {weekday!r}")
        list_mailbox = (env.get("PORTAL_LIST_MAILBOX") or "").strip() or None
        if list_mailbox is not None and ("@" not in list_mailbox or any(c in list_mailbox for c in " <>\r\n,")):
            raise SettingsError("PORTAL_LIST_MAILBOX must be one email address, like unsubscribe@example.org")
        issuer = " ".join((env.get("PORTAL_ISSUER") or "").split()) or "RSIS Events"
        if len(issuer) > 200:
            raise SettingsError("PORTAL_ISSUER is at most 200 characters: the organisation named on certificates")
        upload_dir = Path(env["PORTAL_UPLOAD_DIR"]) if env.get("PORTAL_UPLOAD_DIR") else var_dir / "uploads"
        branding_dir = Path(env["PORTAL_BRANDING_DIR"]) if env.get("PORTAL_BRANDING_DIR") else DEFAULT_BRANDING_DIR
        branding_dir = branding_dir if branding_dir.is_absolute() else cwd / branding_dir
        if not branding_dir.is_dir():
            raise SettingsError(
                f"PORTAL_BRANDING_DIR {str(branding_dir)!r} is not a directory: name one holding favicon.svg, "
                "favicon.ico, logo.svg or logo.png, or leave it unset for the portal's own favicon"
            )
        data_keys, from_var = _data_keys(env, var_dir)
        try:
            retention = parse_period(env.get("PORTAL_RETENTION") or "P24M")
        except ValueError as exc:
            raise SettingsError(f"PORTAL_RETENTION: {exc}") from None
        if retention == Period():
            raise SettingsError("PORTAL_RETENTION keeps nothing: a retention period is at least a day (P1D)")
        smtp_url = env.get("PORTAL_SMTP_URL") or None
        if smtp_url:
            parse_smtp_url(smtp_url)  # refuse it now, not at the first email
        return cls(
            database_url=database_url,
            secret_key=Secret(secret),
            base_url=base_url,
            smtp_url=smtp_url,
            timezone=tz,
            mail_from=env.get("PORTAL_MAIL_FROM") or "portal@localhost",
            session_idle_minutes=idle,
            session_max_hours=max_hours,
            cache_seconds=cache_seconds,
            deliver_in_process=smtp_url is None and _flag(env, "PORTAL_DELIVER_IN_PROCESS", default=True),
            registrations_per_ip_per_minute=per_ip,
            registrations_per_email_per_minute=per_email,
            var_dir=var_dir,
            upload_dir=upload_dir if upload_dir.is_absolute() else cwd / upload_dir,
            upload_request_max_bytes=int(upload_mb * 1_000_000),
            phone_region=phone_region,
            reminders=reminders,
            digest_weekday=_DAYS.index(weekday),
            list_mailbox=list_mailbox,
            fan_out_batch=fan_out_batch,
            issuer=issuer,
            branding_dir=branding_dir,
            data_keys=data_keys,
            data_key_from_var=from_var,
            retention=retention,
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


def _data_keys(env: dict[str, str], var_dir: Path) -> tuple[tuple[str, ...], bool]:
    """PORTAL_DATA_KEY's keys, newest first, each checked; or the one kept under var/."""
    text = env.get("PORTAL_DATA_KEY") or ""
    if not text.strip():
        return (check_key(_stored_secret(var_dir, "data_key", new_key)),), True
    keys = []
    for number, part in enumerate(text.split(","), start=1):
        try:
            keys.append(check_key(part))
        except ValueError as exc:
            raise SettingsError(f"PORTAL_DATA_KEY: key {number} {exc}") from None
    return tuple(keys), False


def _stored_secret(var_dir: Path, name: str = "secret_key", make: Callable[[], str] = lambda: secrets.token_urlsafe(48)) -> str:
    """Return the secret kept under var/, creating it (readable by the owner only) once."""
    path = var_dir / name
    if path.is_file():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value

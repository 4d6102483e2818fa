"""Settings: every variable documented, sensible defaults, a secret kept once and reused."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from portal.settings import VARIABLES, Settings, SettingsError, parse_smtp_url

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_rows() -> dict[str, str]:
    """The settings table of the README: {variable: the rest of its row}."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*`(PORTAL_[A-Z_]+)`\s*\|(.*)", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_every_setting_is_documented_in_the_readme(name):
    assert name in _readme_rows(), f"{name} is read by the portal but missing from the README's settings table"


def test_the_readme_documents_no_setting_the_portal_does_not_read():
    assert set(_readme_rows()) <= set(VARIABLES)


def test_defaults_from_an_empty_environment(tmp_path):
    settings = Settings.from_env(environ={}, cwd=tmp_path)

    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'portal.sqlite3'}"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.smtp_url is None
    assert settings.timezone == "Asia/Singapore"
    assert settings.mail_from == "portal@localhost"
    assert settings.session_idle_minutes == 120
    assert settings.cache_seconds == 1.0
    assert settings.https is False
    # The documented defaults are these values.
    rows = _readme_rows()
    assert "var/portal.sqlite3" in rows["PORTAL_DATABASE_URL"]
    assert "var/secret_key" in rows["PORTAL_SECRET_KEY"]
    for name, value in [
        ("PORTAL_BASE_URL", "http://127.0.0.1:8000"),
        ("PORTAL_TIMEZONE", "Asia/Singapore"),
        ("PORTAL_MAIL_FROM", "portal@localhost"),
        ("PORTAL_SESSION_IDLE_MINUTES", "120"),
        ("PORTAL_CACHE_SECONDS", "1"),
    ]:
        assert f"`{value}`" in rows[name], name
    assert "unset" in rows["PORTAL_SMTP_URL"]
    assert (settings.reminders, settings.digest_weekday, settings.list_mailbox, settings.fan_out_batch) == (("P2D",), 0, None, 500)
    for name, value in [("PORTAL_REMINDERS", "P2D"), ("PORTAL_DIGEST_WEEKDAY", "monday"), ("PORTAL_FAN_OUT_BATCH", "500")]:
        assert f"`{value}`" in rows[name], name


def test_the_mailing_settings_are_read_and_normalised(tmp_path):
    settings = Settings.from_env(
        environ={
            "PORTAL_SECRET_KEY": "k", "PORTAL_REMINDERS": " pt2h , P1W,p1d", "PORTAL_DIGEST_WEEKDAY": "Friday",
            "PORTAL_LIST_MAILBOX": "leave@example.org", "PORTAL_FAN_OUT_BATCH": "50",
        },
        cwd=tmp_path,
    )
    # Longest first, one spelling each: a reminder's mailing is named by it.
    assert settings.reminders == ("P7D", "P1D", "PT2H")
    assert (settings.digest_weekday, settings.list_mailbox, settings.fan_out_batch) == (4, "leave@example.org", 50)
    assert Settings.from_env(environ={"PORTAL_SECRET_KEY": "k", "PORTAL_REMINDERS": ""}, cwd=tmp_path).reminders == ()


def test_the_secret_key_is_generated_once_private_and_reused(tmp_path):
    first = Settings.from_env(environ={}, cwd=tmp_path)
    path = tmp_path / "var" / "secret_key"

    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = str(first.secret_key)
    assert len(secret) >= 43
    assert path.read_text().strip() == secret

    second = Settings.from_env(environ={}, cwd=tmp_path)
    assert str(second.secret_key) == secret
    # Another checkout gets another secret.
    other = tmp_path / "other"
    other.mkdir()
    assert str(Settings.from_env(environ={}, cwd=other).secret_key) != secret


def test_an_explicit_secret_key_creates_no_file(tmp_path):
    settings = Settings.from_env(environ={"PORTAL_SECRET_KEY": "from-the-environment"}, cwd=tmp_path)
    assert str(settings.secret_key) == "from-the-environment"
    assert not (tmp_path / "var" / "secret_key").exists()


def test_the_environment_and_dotenv_are_read(tmp_path):
    (tmp_path / ".env").write_text("PORTAL_TIMEZONE=Europe/London\nPORTAL_BASE_URL=https://events.example.org/\nPORTAL_SECRET_KEY=k\n")
    settings = Settings.from_env(environ={"PORTAL_TIMEZONE": "Asia/Tokyo", "PORTAL_CACHE_SECONDS": "2.5"}, cwd=tmp_path)
    assert settings.timezone == "Asia/Tokyo"  # the environment wins over .env
    assert settings.base_url == "https://events.example.org"
    assert settings.https is True
    assert settings.cache_seconds == 2.5


@pytest.mark.parametrize(
    "environ",
    [
        {"PORTAL_TIMEZONE": "Mars/Olympus_Mons"},
        {"PORTAL_TIMEZONE": "../../etc/passwd"},
        {"PORTAL_BASE_URL": "events.example.org"},
        {"PORTAL_SESSION_IDLE_MINUTES": "two hours"},
        {"PORTAL_CACHE_SECONDS": "soon"},
        {"PORTAL_REMINDERS": "two days"},
        {"PORTAL_REMINDERS": "P1M"},
        {"PORTAL_REMINDERS": "PT0S"},
        {"PORTAL_REMINDERS": "P100D"},
        {"PORTAL_REMINDERS": "P1D,PT24H"},
        {"PORTAL_REMINDERS": "P1D,P2D,P3D,P4D,P5D,P6D"},
        {"PORTAL_DIGEST_WEEKDAY": "someday"},
        {"PORTAL_LIST_MAILBOX": "nobody"},
        {"PORTAL_LIST_MAILBOX": "a@b.org, c@d.org"},
        {"PORTAL_FAN_OUT_BATCH": "0"},
        {"PORTAL_FAN_OUT_BATCH": "many"},
    ],
)
def test_bad_values_raise_settings_error(environ, tmp_path):
    with pytest.raises(SettingsError):
        Settings.from_env(environ={"PORTAL_SECRET_KEY": "k", **environ}, cwd=tmp_path)


# --- PORTAL_SMTP_URL: a password never crosses the network in clear unless the URL says so ---


@pytest.mark.parametrize(
    ("url", "security", "port"),
    [
        ("smtp://relay.internal", "none", 25),  # a relay without a login: plain is fine
        ("smtp://127.0.0.1:1025", "none", 1025),
        ("smtp://mail.example.org:587", "starttls", 587),  # the submission port expects it
        ("smtp://user:pass@mail.example.org:587", "starttls", 587),
        ("smtp://user:pass@mail.example.org", "starttls", 25),  # a password: STARTTLS on any port
        ("smtp://user:pass@mail.example.org:2525", "starttls", 2525),
        ("smtp://user:pass@mail.example.org:587?starttls=1", "starttls", 587),  # the older spelling
        ("smtp://relay.internal?tls=starttls", "starttls", 25),
        ("smtp://user:pass@relay.internal:25?tls=none", "none", 25),  # said explicitly
        ("smtp://relay.internal:587?starttls=0", "none", 587),
        ("smtps://user:pass@mail.example.org", "tls", 465),
        ("smtps://mail.example.org:2465", "tls", 2465),
    ],
)
def test_smtp_urls_and_how_they_connect(url, security, port):
    server = parse_smtp_url(url)
    assert (server.security, server.port) == (security, port)


def test_an_smtp_url_carries_its_login_percent_encoded(tmp_path):
    cafile = tmp_path / "ca.pem"
    cafile.write_text("-----BEGIN CERTIFICATE-----\n")
    server = parse_smtp_url(f"smtps://mailer%40example.org:p%40ss%2Fw%3Ard@mail.example.org?cafile={cafile}")
    assert (server.host, server.user, server.password) == ("mail.example.org", "mailer@example.org", "p@ss/w:rd")
    assert server.cafile == str(cafile)
    assert "p@ss" not in repr(server)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("smtp://user:s3cret@relay.internal?starttls=0", "tls=none"),
        ("smtp://user:s3cret@mail.example.org:465", "smtps://"),
        ("smtps://user:s3cret@mail.example.org?tls=none", "smtps:// is TLS from the start"),
        ("smtp://user:s3cret@mail.example.org?tls=off", "tls must be starttls or none"),
        ("smtp://user:s3cret@mail.example.org?tls=none&starttls=1", "not starttls= as well"),
        ("smtp://user:s3cret@mail.example.org?starttls=maybe", "starttls must be 1 or 0"),
        ("smtp://user:s3cret@mail.example.org?verify=0", "'verify' is unknown"),
        ("smtp://relay.internal?cafile=/etc/hostname", "cafile has no use"),
        ("smtps://user:s3cret@mail.example.org?cafile=/no/such/file.pem", "is not a file"),
        ("smtp://:s3cret@mail.example.org", "a password but no user"),
        ("http://user:s3cret@mail.example.org", "must look like"),
        ("smtp://user:s3cret@mail.example.org:smtp", "port that is not a number"),
    ],
)
def test_smtp_urls_refused_at_start_up_say_why_and_keep_the_password(url, says, tmp_path):
    with pytest.raises(SettingsError, match=re.escape(says)) as refused:
        Settings.from_env(environ={"PORTAL_SECRET_KEY": "k", "PORTAL_SMTP_URL": url}, cwd=tmp_path)
    assert "s3cret" not in str(refused.value)


def test_a_password_in_clear_needs_tls_none(tmp_path):
    environ = {"PORTAL_SECRET_KEY": "k", "PORTAL_SMTP_URL": "smtp://user:pass@127.0.0.1:25?starttls=0"}
    with pytest.raises(SettingsError, match="in clear"):
        Settings.from_env(environ=environ, cwd=tmp_path)
    environ["PORTAL_SMTP_URL"] = "smtp://user:pass@127.0.0.1:25?tls=none"
    server = Settings.from_env(environ=environ, cwd=tmp_path).smtp_server
    assert server is not None and server.security == "none" and server.user == "user"
    assert Settings.from_env(environ={"PORTAL_SECRET_KEY": "k"}, cwd=tmp_path).smtp_server is None

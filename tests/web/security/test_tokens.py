"""Private tokens (the manage link's key, session keys, CSRF cookies): at least 128 bits from
`secrets`, compared in constant time, never written to a log, never on a public page or feed."""

from __future__ import annotations

import base64
import hmac
import io
import logging
import re
from typing import Any

import pytest
from sqlalchemy.exc import DataError
from starlette.testclient import TestClient

from portal import site as site_module
from portal.accounts import organisers
from portal.logs import RedactTokens, log_config
from portal.registrations import participants
from portal.web import csrf
from tests.conftest import BASE_URL
from tests.web.backoffice.conftest import sign_in
from tests.web.security.conftest import submit
from tests.web.security.test_headers import get_paths

MIN_BITS = 128


def _bits(token: str) -> int:
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token
    return len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8


def test_tokens_have_at_least_128_bits_and_never_repeat(client, make_event, manage_link, settings):
    event = make_event()
    assert submit(client, event.slug, email="ann@example.org").status_code == 303
    made = {
        "manage link": [manage_link("ann@example.org")] + [participants.new_token() for _ in range(200)],
        "session key": [organisers.new_session_key() for _ in range(200)],
        "CSRF cookie": [client.cookies[csrf.COOKIE]],
    }
    for kind, tokens in made.items():
        assert all(_bits(t) >= MIN_BITS for t in tokens), kind
        assert len(set(tokens)) == len(tokens), kind


def test_tokens_come_from_the_secrets_module(monkeypatch):
    # `random` would be predictable; only `secrets` (the OS's generator) will do.
    drawn = []
    real = participants.secrets.token_urlsafe

    def spy(n: int | None = None) -> str:
        drawn.append(n)
        return real(n)

    monkeypatch.setattr(participants.secrets, "token_urlsafe", spy)
    participants.new_token()
    organisers.new_session_key()
    assert drawn and all(n is not None and n * 8 >= MIN_BITS for n in drawn)


@pytest.fixture
def comparisons(monkeypatch):  # type: ignore[no-untyped-def]
    """Every call of hmac.compare_digest, with what it compared."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def _as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_a_manage_link_is_compared_in_constant_time(client, make_event, make_registration, comparisons):
    registration = make_registration(make_event())
    assert client.get(f"/registrations/{registration.token}").status_code == 200
    assert registration.token in [_as_text(b) for _, b in comparisons]


def test_csrf_tokens_and_session_keys_are_compared_in_constant_time(client, organiser, comparisons):
    assert sign_in(client, organiser.email).status_code == 303
    assert comparisons, "the sign-in form's CSRF token was not compared with compare_digest"
    comparisons.clear()
    assert client.get("/admin/").status_code == 200
    assert comparisons, "the session key was not compared with compare_digest"


def test_no_public_page_or_feed_shows_a_private_token(app, client, browser, make_programme, make_event, manage_link):
    programme = make_programme(code="tatc")
    event = make_event(programme_id=programme.id)
    registrant = browser()
    form = {"organisation": "MHA", "billing_contact": "Bill", "billing_email": "bill@example.org"}
    response = submit(registrant, event.slug, email="ann@example.org", **form)
    assert response.status_code == 303
    token = manage_link("ann@example.org")
    assert token not in response.headers["location"]
    thanks = registrant.get(response.headers["location"])
    assert thanks.status_code == 200 and token not in thanks.text
    world = {"slug": event.slug, "code": programme.code, "token": "not-the-token", "id": 1, "fmt": "csv", "key": "cv",
             "name": "favicon.svg", "form": "default", "index": 0}
    public = [p for p in get_paths(app, world) if not p.startswith(("/admin", "/registrations"))]
    assert len(public) >= 10
    for path in public + ["/events.atom", "/calendar.ics?programme=tatc", "/events?q=ann"]:
        for visitor in (client, registrant):
            page = visitor.get(path)
            assert token not in page.text and token not in str(page.headers), path


def test_the_private_pages_are_neither_kept_nor_indexed(client, make_event, make_registration):
    registration = make_registration(make_event())
    for path in (f"/registrations/{registration.token}", f"/registrations/{registration.token}/cancel"):
        page = client.get(path)
        assert page.headers["cache-control"] == "no-store", path
        assert "noindex" in page.headers["x-robots-tag"], path
        # Links out of the page never carry its address (and so the token) to another site.
        assert page.headers["referrer-policy"] in ("same-origin", "no-referrer"), path
    feed = client.get(f"/registrations/{registration.token}/calendar.ics")
    assert feed.headers["cache-control"].startswith("private")


TOKEN = "Q0hBTkdFLU1FLXRoaXMtaXMtYS1mYWtlLXRva2VuLTE"


def _record(msg: str, *args: Any, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, exc_info)


def _logged(record: logging.LogRecord) -> str:
    assert RedactTokens().filter(record)
    return logging.Formatter("%(message)s").format(record)


def test_no_log_line_holds_a_token():
    assert len(TOKEN) == len(participants.new_token())
    access = _record('%s - "%s %s HTTP/%s" %d', "203.0.113.5:5000", "GET", f"/registrations/{TOKEN}/cancel?x=1", "1.1", 200)
    assert _logged(access) == '203.0.113.5:5000 - "GET /registrations/[private]/cancel?x=1 HTTP/1.1" 200'
    assert TOKEN not in _logged(_record(f"unhandled error on GET /registrations/{TOKEN}"))
    assert TOKEN not in _logged(_record("lookup %(token)s", {"token": TOKEN}))
    # A database error quotes the query's parameters, the bare token among them.
    try:
        raise DataError("SELECT … WHERE participants.token = %(token_1)s", {"token_1": TOKEN}, Exception("boom"))
    except DataError as exc:
        line = _logged(_record("unhandled error on %s %s", "GET", "/registrations/x", exc=exc))
    assert "Traceback" in line and "DataError" in line and TOKEN not in line
    assert "[private]" in line
    # Text that only looks a little like a token is left alone.
    assert _logged(_record("event %s", "tatc-2027-03")) == "event tatc-2027-03"


def test_every_log_handler_but_the_development_mail_log_redacts():
    config = log_config()
    for name, handler in config["handlers"].items():
        if name == "mail":
            continue  # the manage links in development email are what the developer reads
        assert "redact" in handler.get("filters", []), name
    assert config["filters"]["redact"]["()"] == "portal.logs.RedactTokens"


def test_a_server_error_on_a_manage_page_logs_no_token(app, make_event, make_registration, monkeypatch):
    registration = make_registration(make_event())

    def broken(session: Any, token: str, **kwargs: Any) -> Any:
        raise RuntimeError(f"could not load {token}")

    monkeypatch.setattr(participants, "view_registration", broken)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactTokens())
    portal_log = logging.getLogger("portal")
    portal_log.addHandler(handler)
    try:
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as c:
            assert c.get(f"/registrations/{registration.token}").status_code == 500
    finally:
        portal_log.removeHandler(handler)
    written = stream.getvalue()
    assert "unhandled error on GET /registrations/[private]" in written
    assert "RuntimeError" in written and registration.token not in written


def test_paths_with_a_private_token_are_never_kept_in_memory():
    """site.path_for keeps public paths (a timetable links the same ones hundreds of times), but
    a manage link's token must not outlive its request in the process's memory."""
    kept = site_module._public_path.cache_info().currsize
    token = "tok" + "x" * 40
    assert site_module.path_for("manage_registration", token=token) == f"/registrations/{token}"
    assert site_module._public_path.cache_info().currsize == kept
    assert site_module.path_for("show_speaker", key="tan-ah-kow") == "/speakers/tan-ah-kow"
    assert site_module.path_for("show_speaker", key="a/b") == "/speakers/a%2Fb"

"""Security headers on every response the portal can give: every GET route (public, feeds,
back office, static files), kept answers served from the page cache, and every kind of error
page; pages with no inline script or style for the CSP to have to allow; HSTS only under
https; cookies HttpOnly and SameSite; a fresh session, and a fresh CSRF cookie, at sign-in."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import URLSafeSerializer
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from portal.app import create_app
from portal.catalogue import listing
from portal.db import Change
from portal.web import csrf
from portal.web.backoffice import auth
from tests.conftest import BASE_URL, csrf_from
from tests.web.backoffice.conftest import PASSWORD, sign_in, token

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def check_headers(response: Any, *, https: bool = False) -> None:
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    csp = response.headers.get("content-security-policy")
    assert csp, f"no CSP on {where}"
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, where
    assert directives["default-src"] == ["'self'"], where
    assert directives["script-src"] == ["'self'"], where
    assert directives["style-src"] == ["'self'"], where
    assert directives["frame-ancestors"] == ["'none'"], where
    assert directives["object-src"] == ["'none'"], where
    assert directives["base-uri"] == ["'none'"], where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") in ("same-origin", "no-referrer"), where
    assert response.headers.get("x-frame-options") == "DENY", where
    hsts = response.headers.get("strict-transport-security")
    if https:
        assert hsts and int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 15_552_000, where  # type: ignore[union-attr]
    else:
        assert hsts is None, f"HSTS over plain http on {where}"


class _Inline(HTMLParser):
    """What in a page the CSP would block, or would have to be loosened for."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and "src" not in a and a.get("type") != "application/ld+json":
            self.found.append("an inline <script>")
        if tag == "style":
            self.found.append("a <style> block")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"a style attribute on <{tag}>")
            if name.startswith("on"):
                self.found.append(f"an {name} handler on <{tag}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"a javascript: URL on <{tag}>")


def inline_code(html: str) -> list[str]:
    parser = _Inline()
    parser.feed(html)
    return parser.found


# --- every route --------------------------------------------------------------------------------


def _routes(routes: list[Any], prefix: str = "") -> list[tuple[str, Route]]:
    found = []
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            found += _routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            found.append((prefix, route))
    return found


@pytest.fixture
def world(make_programme, make_event, make_registration, make_organiser):  # type: ignore[no-untyped-def]
    programme = make_programme(code="tatc")
    event = make_event(programme_id=programme.id, description="A *talk*.")
    registration = make_registration(event)
    return {"slug": event.slug, "code": programme.code, "token": registration.token, "id": registration.id, "fmt": "csv", "key": "cv", "name": "favicon.svg",
            "form": "default", "index": 0}


def get_paths(app: Any, world: dict[str, Any]) -> list[str]:
    paths = []
    for prefix, route in _routes(app.routes):
        if "GET" not in (route.methods or ()):
            continue
        params = {name: world[name] for name in route.param_convertors}
        paths.append(prefix + re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(params[m.group(1)]), route.path))
    return paths


def test_every_page_feed_and_file_carries_the_headers_and_no_inline_code(app, admin_client, browser, world):
    paths = get_paths(app, world)
    assert len(paths) >= 30
    paths += ["/static/css/portal.css", "/static/js/check-in.js", "/listing.atom", "/events?q=x&page=2"]
    visitor = browser()
    for path in paths:
        for client in (visitor, admin_client, visitor):  # the second visit may come from the page cache
            response = client.get(path)
            assert response.status_code < 500, path
            check_headers(response)
            if response.headers.get("content-type", "").startswith("text/html"):
                assert inline_code(response.text) == [], path


def test_the_page_cache_keeps_the_headers(client, make_event):
    event = make_event()
    for _ in range(3):
        check_headers(client.get(f"/events/{event.slug}"))
        check_headers(client.get("/calendar.ics"))
        check_headers(client.head("/events"))


def test_every_kind_of_error_carries_the_headers(app, client, make_event, organiser, monkeypatch):
    event = make_event()
    answers = {
        404: client.get("/no/such/page"),
        405: client.put("/events"),
        403: client.post(f"/events/{event.slug}/register", data={"name": "x"}),
        413: client.post(f"/events/{event.slug}/register", content=b"x" * (1024 * 1024)),
        401: client.get(f"/admin/events/{event.slug}/export.csv"),
    }
    answers[404 + 1000] = client.get("/events/a%00b")  # refused before routing
    for _ in range(5):
        locked = sign_in(client, organiser.email, "wrong password here")
    answers[429] = locked

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(listing, "get_home", broken)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as fresh:
        answers[500] = fresh.get("/")
    for status, response in answers.items():
        assert response.status_code == status % 1000, (status, response.status_code)
        check_headers(response)


@pytest.mark.parametrize("https", [False, True])
def test_hsts_only_when_the_base_url_is_https(settings, https, make_event, monkeypatch):
    event = make_event()
    base = "https://portal.example.org" if https else "http://portal.example.org"
    app = create_app(dataclasses.replace(settings, base_url=base))
    with TestClient(app, base_url=base, raise_server_exceptions=False) as client:
        check_headers(client.get("/"), https=https)
        check_headers(client.get(f"/events/{event.slug}/register"), https=https)
        check_headers(client.get("/nowhere"), https=https)
        monkeypatch.setattr(listing, "get_home", lambda *a, **k: 1 / 0)
        client.app.state.changes.local_write(Change(version=10**9))  # the home page is not served from the cache
        crash = client.get("/")
        assert crash.status_code == 500
        check_headers(crash, https=https)


def test_no_web_template_holds_inline_script_or_style():
    # Emails are not web pages: mail clients need inline styles, and no CSP applies there.
    checked = 0
    for path in TEMPLATES.rglob("*.html"):
        if "email" in path.relative_to(TEMPLATES).parts:
            continue
        text = path.read_text(encoding="utf-8")
        # Jinja expressions are not markup: blank them so the parser sees only the HTML.
        found = inline_code(re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "", text, flags=re.S))
        assert found == [], f"{path.relative_to(TEMPLATES)}: {found}"
        checked += 1
    assert checked >= 20


def test_the_inline_code_finder_finds_what_it_looks_for():
    page = '<p style="color:red" onclick="x()">a</p><script>alert(1)</script><style>p{}</style><a href=" JavaScript:x">l</a>'
    assert len(inline_code(page)) == 5
    assert inline_code('<script src="/static/js/a.js"></script><script type="application/ld+json">{}</script>') == []


# --- cookies and sessions -----------------------------------------------------------------------


def _set_cookies(response: Any) -> dict[str, str]:
    return {v.split("=", 1)[0]: v for v in response.headers.get_list("set-cookie")}


@pytest.mark.parametrize("https", [False, True])
def test_every_cookie_is_httponly_and_samesite(settings, organiser, make_event, https):
    base = "https://testserver" if https else BASE_URL
    app = create_app(dataclasses.replace(settings, base_url=base))
    event = make_event()
    with TestClient(app, base_url=base, follow_redirects=False) as client:
        form = client.get(f"/events/{event.slug}/register")
        signed_in = sign_in(client, organiser.email)
        signed_out = client.post("/admin/sign-out", data={"csrf_token": token(client, "/admin/")})
        cookies = {**_set_cookies(form), **_set_cookies(signed_in)}
        assert set(cookies) >= {csrf.cookie_name(https=https), auth.COOKIE}
        if https:
            # The __Host- prefix: browsers take it only with Secure, Path=/ and no Domain.
            assert csrf.cookie_name(https=True).startswith("__Host-")
            assert "; Path=/;" in cookies[csrf.cookie_name(https=True)]
        assert auth.COOKIE in _set_cookies(signed_out)
        for response in (form, signed_in, signed_out):
            for name, cookie in _set_cookies(response).items():
                attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
                assert "httponly" in attributes, cookie
                assert re.search(r"samesite=(lax|strict)", cookie, re.I), cookie
                assert ("secure" in attributes) == https, cookie
                assert "domain" not in attributes, cookie


def _session_id(client: TestClient, secret: str) -> str:
    return URLSafeSerializer(secret, salt="portal.admin-session").loads(client.cookies[auth.COOKIE])["s"]


def test_signing_in_starts_a_fresh_session_whatever_cookie_came_in(client, organiser, settings, monkeypatch):
    monkeypatch.setattr(auth, "_now", lambda: 1_900_000_000.0)  # the same second each time
    secret = str(settings.secret_key)
    assert sign_in(client, organiser.email).status_code == 303
    first = _session_id(client, secret)
    assert sign_in(client, organiser.email).status_code == 303
    second = _session_id(client, secret)
    assert first != second and len(second) >= 20


def test_signing_in_replaces_the_csrf_cookie(client, browser, organiser):
    # Someone who planted a CSRF cookie in the browser (and so knows a token for it) before
    # the organiser signed in holds nothing that works after it.
    planted = token(client)
    assert sign_in(client, organiser.email).status_code == 303
    assert client.post("/admin/sign-out", data={"csrf_token": planted}).status_code == 403
    assert client.get("/admin/").status_code == 200
    # The new cookie's token works.
    assert client.post("/admin/sign-out", data={"csrf_token": token(client, "/admin/")}).status_code == 303


def test_under_https_a_csrf_cookie_without_the_host_prefix_is_ignored(settings, make_event, registered):
    # What a sibling subdomain could plant: a cookie of the plain name, with a token it knows.
    app = create_app(dataclasses.replace(settings, base_url="https://testserver"))
    event = make_event()
    planted = "planted-by-a-sibling-subdomain"
    known = csrf._sign(str(settings.secret_key), planted)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        client.cookies.set(csrf.COOKIE, planted)
        data = {"name": "Ann", "email": "ann@example.org", "consent": "y", "csrf_token": known}
        assert client.post(f"/events/{event.slug}/register", data=data).status_code == 403
        # The portal's own cookie works.
        data["csrf_token"] = csrf_from(client.get(f"/events/{event.slug}/register").text)
        assert client.post(f"/events/{event.slug}/register", data=data).status_code == 303
    assert len(registered()) == 1


def test_a_wrong_password_keeps_the_csrf_cookie(client, organiser):
    before = token(client)
    assert sign_in(client, organiser.email, "wrong password here").status_code == 401
    assert csrf_from(client.get("/admin/sign-in").text) == before
    assert PASSWORD not in client.get("/admin/sign-in").text

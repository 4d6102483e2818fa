"""Property-based fuzzing: whatever a client sends through a public form field, a query
parameter, a path segment or a raw body, the portal answers with a page or a 4xx, never a
500. The back office's query parameters are fuzzed too, signed in.

Deterministic (derandomize, no example database) so that CI runs the same examples every
time, and small (30 to 50 examples a property, a few requests each: about 15 seconds in all)
so that the whole suite stays fast on both engines. Each property also runs hand-picked
examples, among them those that once gave a 500.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from portal.models import Admission
from tests.conftest import BASE_URL, csrf_from
from tests.web.backoffice.conftest import PASSWORD, sign_in

FUZZ = hypothesis_settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    # One app and database per test, shared by its examples: what one example writes, the
    # next may read, which is only more hostile.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

TRICKY = [
    "", " ", "\x00", "a\x00b", "%00", "%", "\\", "-1", "0", "00000", "99999999999999999999", "1e400", "NaN", "①", "²",
    "<script>alert(1)</script>", "' OR 1=1 --", "\u202e", "\r\n", "\ufeff", "../../etc/passwd", "//evil.example",
    "past", "upcoming", "y", "true", "[]", "{}", "\U0001f600" * 50, "a" * 5000,
]
# Any Unicode text but lone surrogates, which no client can encode as UTF-8.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
VALUE = st.one_of(TEXT, st.sampled_from(TRICKY), st.integers().map(str))

PUBLIC_QUERY = ["programme", "category", "q", "when", "page", "next", "expired", "saved"]
REGISTER_FIELDS = [
    "name", "email", "organisation", "position", "consent", "website", "rank", "service", "country",
    "nominating_authority", "nominator_email", "statement", "billing_contact", "billing_email",
]
MANAGE_FIELDS = ["name", "organisation", "position", "rank", "service", "country", "statement", "nominating_authority"]
ADMIN_QUERY = ["q", "status", "sort", "dir", "after", "before", "last", "when", "page", "programme"]


def params(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.one_of(st.sampled_from(names), TEXT), VALUE, max_size=6)


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    # Hundreds of submissions from one client in seconds: the rate limits would answer most
    # of them 429 before the form is read. test_limits.py tests the limits.
    return dataclasses.replace(settings, registrations_per_ip_per_minute=0, registrations_per_email_per_minute=0)


@pytest.fixture
def fuzz_client(app: Any) -> Any:
    with TestClient(app, base_url=BASE_URL, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def csrf(fuzz_client: Any) -> str:
    """A token for fuzz_client's forms (its CSRF cookie stays the same through a test)."""
    return csrf_from(fuzz_client.get("/admin/sign-in").text)


@pytest.fixture
def events(make_programme, migrated_form, make_event, make_registration):  # type: ignore[no-untyped-def]
    """Events with every kind of form: open, a nomination with military questions, an
    application with a statement, a fee-paying course; and one registration to manage."""
    appsmo = make_programme(code="appsmo", admission=Admission.NOMINATION)
    isf = make_programme(code="isf-asia", admission=Admission.APPLICATION)
    tatc = make_programme(code="tatc", admission=Admission.APPLICATION)
    for programme in (appsmo, isf, tatc):
        migrated_form(programme)
    slugs = [
        make_event(capacity=3, waitlist=False).slug,
        make_event(programme_id=appsmo.id).slug,
        make_event(programme_id=isf.id).slug,
        make_event(programme_id=tatc.id).slug,
    ]
    registration = make_registration(make_event(programme_id=appsmo.id), answers={"rank": "Colonel"})
    return {"slugs": slugs, "codes": ["appsmo", "isf-asia", "tatc"], "token": registration.token}


def _ok(response: Any, allowed: set[int]) -> None:
    where = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{where} gave {response.status_code}"
    assert response.status_code in allowed, f"{where} gave {response.status_code}"
    # A refused answer is shown again as typed; a NUL in it would make the page invalid HTML.
    if response.headers.get("content-type", "").startswith("text/html"):
        assert "\x00" not in response.text, f"{where} echoed a NUL"


@FUZZ
@given(query=params(PUBLIC_QUERY))
@example(query={"q": "a\x00b", "programme": "\x00", "page": "²"})
@example(query={"page": "99999999999999999999", "when": "past"})
def test_public_query_parameters_never_fail(fuzz_client, events, query):
    for path in ("/events", "/admin/sign-in", f"/registrations/{events['token']}"):
        _ok(fuzz_client.get(path, params=query), {200})
    # A feed filter naming no programme is a feed that does not exist.
    _ok(fuzz_client.get("/calendar.ics", params=query), {200, 404})


@FUZZ
@given(segment=st.one_of(TEXT, st.sampled_from(TRICKY)).filter(lambda s: s not in ("", ".", "..")))
@example(segment="a\x00b")
@example(segment="%00")
def test_path_segments_never_fail(fuzz_client, events, segment):
    part = quote(segment, safe="")
    for path in (f"/events/{part}/register", f"/events/{part}/calendar.ics", f"/programmes/{part}",
                 f"/registrations/{part}", f"/registrations/{part}/calendar.ics"):
        _ok(fuzz_client.get(path), {200, 404})


@hypothesis_settings(FUZZ, max_examples=50)
@given(index=st.integers(0, 3), fields=params(REGISTER_FIELDS))
@example(index=1, fields={"name": "Ann\x00", "email": "a\x00@example.org", "consent": "y", "rank": "\x00"})
@example(index=0, fields={"name": "Ann", "email": "ann@example.org", "consent": "y", "website": ""})
def test_the_registration_form_never_fails(fuzz_client, csrf, events, index, fields):
    slug = events["slugs"][index]
    response = fuzz_client.post(f"/events/{slug}/register", data={**fields, "csrf_token": csrf})
    # 303 registered (or a bot's honeypot); 409 full; 422 a field to fix.
    _ok(response, {303, 409, 422})


@FUZZ
@given(fields=params(MANAGE_FIELDS), cancel=st.booleans())
@example(fields={"name": "\x00", "rank": "a\x00b"}, cancel=False)
def test_the_manage_forms_never_fail(fuzz_client, csrf, events, fields, cancel):
    path = f"/registrations/{events['token']}" + ("/cancel" if cancel else "")
    _ok(fuzz_client.post(path, data={**fields, "csrf_token": csrf}), {303, 409, 422, 404})


@FUZZ
@given(fields=params(["email", "password", "next"]))
@example(fields={"email": "a\x00b@example.org", "password": "x\x00y"})
@example(fields={"email": "ada@example.org", "password": PASSWORD, "next": "//evil.example"})
def test_the_sign_in_form_never_fails(fuzz_client, fields, admin):
    # A token each time: signing in gives the browser a new CSRF cookie.
    csrf = csrf_from(fuzz_client.get("/admin/sign-in").text)
    # 303 signed in; 401 wrong; 422 malformed; 429 locked after repeated failures.
    _ok(fuzz_client.post("/admin/sign-in", data={**fields, "csrf_token": csrf}), {303, 401, 422, 429})


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=3000), TEXT.map(str.encode)),
    content_type=st.sampled_from([
        "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=x",
        "multipart/form-data; boundary=", "text/plain", "application/json", "", "application/x-www-form-urlencoded; charset=latin-1",
    ]),
)
@example(body=b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\x00\r\n--x--", content_type="multipart/form-data; boundary=x")
@example(body=b"name=%FF%FE&email=%00", content_type="application/x-www-form-urlencoded")
def test_raw_bodies_never_fail(fuzz_client, csrf, events, body, content_type):
    for path in (f"/events/{events['slugs'][0]}/register", f"/registrations/{events['token']}", "/admin/sign-in"):
        response = fuzz_client.post(path, content=body, headers={"content-type": content_type})
        # 400 unreadable; 403 no CSRF token (a body cannot carry one it never saw).
        _ok(response, {400, 403})


@hypothesis_settings(FUZZ, max_examples=25)
@given(query=params(ADMIN_QUERY))
@example(query={"q": "a\x00b"})
@example(query={"after": "\x00", "sort": "name", "dir": "desc"})
def test_back_office_query_parameters_never_fail(fuzz_client, events, admin, query):
    if fuzz_client.cookies.get("portal_admin") is None:
        assert sign_in(fuzz_client, admin.email).status_code == 303
    slug = events["slugs"][1]
    for path in ("/admin/events", f"/admin/events/{slug}", f"/admin/events/{slug}/check-in", f"/admin/events/{slug}/audit", "/admin/outbox"):
        # 400: a roster link that does not parse (a damaged cursor or an unknown sort).
        _ok(fuzz_client.get(path, params=query), {200, 400})


def test_a_nul_in_any_query_string_is_dropped_before_any_handler_reads_it(admin_client, make_event):
    # PostgreSQL refuses NUL in text, so a NUL that reached a search was a 500 there.
    event = make_event(title="Sea lanes")
    for raw in ("se%00a", "se%%0000a", "s%00e%00a"):
        page = admin_client.get(f"/admin/events?q={raw}")
        assert page.status_code == 200
        assert 'value="sea"' in page.text and "Sea lanes" in page.text, raw
        assert admin_client.get(f"/admin/events/{event.slug}/check-in?q={raw}").status_code == 200
    assert 'value="sea"' in admin_client.get("/events?q=se%00a").text

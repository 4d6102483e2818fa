"""A session's roster in the back office: who chose it (holding a place, and its waiting list
in order), its counts, its CSV export, and check-in at its door with undo, audited; a session
that checks in without being chosen lists the event's confirmed."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.db import utcnow
from portal.models import AuditEntry, Registration, SessionCheckIn
from portal.models import RegistrationStatus as S
from tests.web.backoffice.conftest import post

pytestmark = pytest.mark.usefixtures("speakers")


@pytest.fixture
def workshop(conference, add_session, choose, make_registration):  # type: ignore[no-untyped-def]
    ws = add_session(conference, "ws-a", 1, 2, title="Workshop A", kind="workshop", room="Room 2", speakers=["tan-ah-kow"],
                     choose=True, places=3, waitlist=True, check_in=True)
    early = utcnow() - timedelta(hours=5)
    choose(make_registration(conference, name="Zed Zhou", email="zed@example.org", organisation="=HYPERLINK(\"x\")"), ws, at=early)
    choose(make_registration(conference, name="Ada Ang", email="ada@example.org"), ws, at=early)
    choose(make_registration(conference, name="Pat Pending", email="pat@example.org", status=S.PENDING, confirmed_at=None), ws, at=early)
    choose(make_registration(conference, name="Wen Second", email="wen@example.org"), ws, waiting=True, at=early + timedelta(minutes=2))
    choose(make_registration(conference, name="Bo First", email="bo@example.org"), ws, waiting=True, at=early + timedelta(minutes=1))
    choose(make_registration(conference, name="Cy Cancelled", status=S.CANCELLED), ws, at=early)
    make_registration(conference, name="Una Unchosen")
    return ws


def roster(event, key):  # type: ignore[no-untyped-def]
    return f"/admin/events/{event.slug}/sessions/{key}"


def ids_by_name(sessions, names):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return dict(session.execute(select(Registration.name, Registration.id).where(Registration.name.in_(names))).all())


def test_the_roster_shows_who_holds_a_place_and_who_waits_in_order(organiser_client, conference, workshop):
    page = organiser_client.get(roster(conference, workshop.key))
    assert page.status_code == 200
    text = page.text
    assert "<h1>Workshop A</h1>" in text and "Dr Tan Ah Kow" in text and "Room 2" in text
    assert "<dt>Chosen (holding a place)</dt><dd>3</dd>" in text
    assert "<dt>Places left</dt><dd>0</dd>" in text and "<dt>Waiting</dt><dd>2</dd>" in text
    holding = text[text.index('id="people-heading"'):text.index('id="waiting-heading"')]
    waiting = text[text.index('id="waiting-heading"'):]
    assert holding.index("Ada Ang") < holding.index("Pat Pending") < holding.index("Zed Zhou")
    assert "Wen Second" not in holding and "Cy Cancelled" not in text and "Una Unchosen" not in text
    assert waiting.index("Bo First") < waiting.index("Wen Second")
    # Check-in buttons for the confirmed holding a place only.
    assert 'aria-label="Check in Ada Ang"' in text and 'aria-label="Check in Zed Zhou"' in text
    assert 'aria-label="Check in Pat Pending"' not in text and 'aria-label="Check in Bo First"' not in text
    found = organiser_client.get(roster(conference, workshop.key), params={"q": "zhou"}).text
    assert "1 person match “zhou”" in found and "Ada Ang</a>" not in found.split('id="waiting-heading"')[0]
    # The timetable links to it.
    assert f'href="http://testserver{roster(conference, workshop.key)}"' in organiser_client.get(f"/admin/events/{conference.slug}/sessions").text


def test_the_export_lists_the_roster_with_formulas_neutralised(organiser_client, conference, workshop):
    response = organiser_client.get(f"{roster(conference, workshop.key)}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="session-{conference.slug}-ws-a.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Name", "Email", "Organisation", "Registration", "Place", "Chose (Asia/Singapore)", "Checked in (Asia/Singapore)"]
    assert [r[0] for r in rows[1:]] == ["Ada Ang", "Pat Pending", "Zed Zhou", "Bo First", "Wen Second"]
    assert [r[4] for r in rows[1:]] == ["holds a place"] * 3 + ["waiting (1)", "waiting (2)"]
    zed = rows[3]
    assert zed[2] == "'=HYPERLINK(\"x\")" and zed[3] == "confirmed"


def test_check_in_and_undo_at_a_sessions_door_are_audited(organiser_client, conference, workshop, sessions):
    people = ids_by_name(sessions, ["Ada Ang", "Bo First", "Pat Pending", "Una Unchosen"])
    path = f"{roster(conference, workshop.key)}/check-in"
    done = post(organiser_client, path, {"action": "check_in", "registration": str(people["Ada Ang"]), "q": "ada"}, token_from=roster(conference, workshop.key))
    assert done.status_code == 303 and done.headers["location"].endswith(f"{roster(conference, workshop.key)}?q=ada")
    page = organiser_client.get(done.headers["location"]).text
    assert "Checked in: Ada Ang." in page and 'aria-label="Undo the check-in of Ada Ang"' in page
    assert "<dt>Checked in</dt><dd>1</dd>" in organiser_client.get(roster(conference, workshop.key)).text

    twice = post(organiser_client, path, {"action": "check_in", "registration": str(people["Ada Ang"])}, token_from=roster(conference, workshop.key))
    assert "Ada Ang is checked in at Workshop A already." in organiser_client.get(twice.headers["location"]).text
    for name, words in [("Bo First", "on the waiting list of Workshop A"), ("Pat Pending", "is not confirmed"), ("Una Unchosen", "did not choose Workshop A")]:
        refused = post(organiser_client, path, {"action": "check_in", "registration": str(people[name])}, token_from=roster(conference, workshop.key))
        assert words in organiser_client.get(refused.headers["location"]).text

    undone = post(organiser_client, path, {"action": "undo", "registration": str(people["Ada Ang"])}, token_from=roster(conference, workshop.key))
    assert "Check-in undone: Ada Ang." in organiser_client.get(undone.headers["location"]).text
    with sessions() as session:
        assert session.scalars(select(SessionCheckIn)).all() == []
        actions = [(e.action, e.registration_id, e.after.get("session")) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("session.%")).order_by(AuditEntry.id))]
    assert actions == [("session.check_in", people["Ada Ang"], "ws-a"), ("session.undo_check_in", people["Ada Ang"], "ws-a")]
    assert post(organiser_client, path, {"action": "fly", "registration": "1"}, token_from=roster(conference, workshop.key)).status_code == 400


def test_a_keynote_that_checks_in_lists_the_events_confirmed(organiser_client, conference, add_session, make_registration, sessions):
    keynote = add_session(conference, "opening", kind="keynote", check_in=True)
    make_registration(conference, name="Conny Confirmed")
    make_registration(conference, name="Wally Waiting", status=S.WAITLISTED)
    page = organiser_client.get(roster(conference, keynote.key)).text
    assert "Confirmed for the event" in page and "Conny Confirmed" in page and "Wally Waiting" not in page
    assert "Chosen (holding a place)" not in page
    people = ids_by_name(sessions, ["Conny Confirmed"])
    done = post(organiser_client, f"{roster(conference, keynote.key)}/check-in", {"action": "check_in", "registration": str(people["Conny Confirmed"])},
                token_from=roster(conference, keynote.key))
    assert "Checked in: Conny Confirmed." in organiser_client.get(done.headers["location"]).text
    rows = list(csv.reader(io.StringIO(organiser_client.get(f"{roster(conference, keynote.key)}/export.csv").content.decode("utf-8-sig"))))
    assert rows[0] == ["Name", "Email", "Organisation", "Registration", "Checked in (Asia/Singapore)"]
    assert rows[1][0] == "Conny Confirmed" and rows[1][4]


def test_a_session_that_neither_chooses_nor_checks_in_says_so(organiser_client, conference, add_session, make_registration, sessions):
    talk = add_session(conference, "talk")
    person = make_registration(conference)
    page = organiser_client.get(roster(conference, talk.key)).text
    assert "has no roster of its own" in page and "Export CSV" not in page
    refused = post(organiser_client, f"{roster(conference, talk.key)}/check-in", {"action": "check_in", "registration": str(person.id)},
                   token_from=roster(conference, talk.key))
    assert "does not check people in" in organiser_client.get(refused.headers["location"]).text

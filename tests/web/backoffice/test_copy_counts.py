"""Counts in the copy: each message run with 1 and with 2, on the real pages where a test can
reach the number, and through the function that builds it otherwise."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from portal import cli
from portal.catalogue.editing import UpdateReport
from portal.catalogue.timetable_admin import SessionReport
from portal.models import RegistrationStatus as S
from portal.registrations.actions import ActionReport, ActionResult, RosterAction
from portal.templating import make_environment
from portal.web.backoffice.events import saved_messages
from portal.web.backoffice.roster import report_messages
from portal.web.backoffice.timetable import _saved
from tests.conftest import future
from tests.web.backoffice.conftest import post
from tests.web.backoffice.test_events_admin import form_of


def saved_page(client, event, **changes) -> str:  # type: ignore[no-untyped-def]
    edit = f"/admin/events/{event.slug}/edit"
    saved = post(client, edit, form_of(event, **changes), token_from=edit)
    assert saved.status_code == 303, saved.text[:300]
    return client.get(saved.headers["location"]).text


@pytest.mark.parametrize(("over", "words"), [
    (1, "1 more person is confirmed than the new capacity allows. They keep their seat;"),
    (2, "2 more people are confirmed than the new capacity allows. They keep their seats;"),
])
def test_lowering_the_capacity_counts_those_over_it(organiser_client, make_event, make_registration, over, words):
    event = make_event(capacity=5)
    for _ in range(3):
        make_registration(event, status=S.CONFIRMED)
    shown = saved_page(organiser_client, event, capacity=str(3 - over))
    assert words in shown
    assert "more are confirmed" not in shown


@pytest.mark.parametrize(("promoted", "words"), [
    (1, "1 person from the waiting list now has a seat and is being emailed."),
    (2, "2 people from the waiting list now have seats and are being emailed."),
])
def test_raising_the_capacity_counts_those_promoted(organiser_client, make_event, make_registration, promoted, words):
    event = make_event(capacity=1, waitlist=True)
    make_registration(event, status=S.CONFIRMED)
    for _ in range(2):
        make_registration(event, status=S.WAITLISTED)
    shown = saved_page(organiser_client, event, capacity=str(1 + promoted))
    assert words in shown
    assert "now have a seat," not in shown


@pytest.mark.parametrize(("told", "words"), [
    (1, "1 registrant is being emailed about the new time or place."),
    (2, "2 registrants are being emailed about the new time or place."),
])
def test_moving_an_event_counts_those_told(organiser_client, make_event, make_registration, told, words):
    event = make_event()
    for _ in range(told):
        make_registration(event, status=S.CONFIRMED)
    later = event.starts_at + timedelta(days=1)
    local = lambda t: t.astimezone(ZoneInfo(event.timezone)).strftime("%Y-%m-%dT%H:%M")
    shown = saved_page(organiser_client, event, starts_at=local(later), ends_at=local(later + timedelta(hours=2)))
    assert words in shown


@pytest.mark.parametrize(("told", "words"), [
    (0, "The event is cancelled; nobody registered needed telling."),
    (1, "The event is cancelled. 1 registrant is being emailed;"),
    (2, "The event is cancelled. 2 registrants are being emailed;"),
])
def test_cancelling_an_event_counts_those_told(organiser_client, make_event, make_registration, told, words):
    event = make_event()
    for _ in range(told):
        make_registration(event, status=S.CONFIRMED)
    ask = f"/admin/events/{event.slug}/cancel"
    done = post(organiser_client, ask, token_from=ask)
    assert done.status_code == 303
    assert words in organiser_client.get(done.headers["location"]).text


def test_the_saved_messages_agree_with_their_counts():
    one = saved_messages(UpdateReport(["capacity"], promoted=1, notified=1, over_capacity=1))
    two = saved_messages(UpdateReport(["capacity"], promoted=2, notified=2, over_capacity=2))
    assert one == [
        "Saved.",
        "1 person from the waiting list now has a seat and is being emailed.",
        "1 registrant is being emailed about the new time or place.",
        ("1 more person is confirmed than the new capacity allows. They keep their seat; "
        "nobody else gets one until a confirmed person cancels."),
    ]
    assert two == [
        "Saved.",
        "2 people from the waiting list now have seats and are being emailed.",
        "2 registrants are being emailed about the new time or place.",
        ("2 more people are confirmed than the new capacity allows. They keep their seats; "
        "nobody else gets one until enough of them cancel."),
    ]


@pytest.mark.parametrize(("more", "words"), [(1, "1 more was not changed"), (2, "2 more were not changed")])
def test_a_bulk_action_counts_the_rest_not_changed(more, words):
    skipped = [ActionResult(i, f"Person {i}", S.CANCELLED, None, "is cancelled") for i in range(5 + more)]
    messages = report_messages(ActionReport(RosterAction.APPROVE, "e", skipped, []))
    assert f"{words} for the same kinds of reasons." in messages


class _Session:
    def __init__(self, places: int) -> None:
        self.choose, self.places = True, places


@pytest.mark.parametrize(("places", "words"), [(1, "0 of 1 place"), (2, "0 of 2 places")])
def test_a_session_counts_its_places(places, words):
    macro = make_environment().get_template("admin/_timetable.html").module.places  # type: ignore[attr-defined]
    shown = " ".join(str(macro(_Session(places), 0, 0)).split())
    assert shown == words


@pytest.mark.parametrize(("hours", "words"), [(1, "at most 1 hour from"), (2, "at most 2 hours from")])
def test_the_sign_in_page_counts_the_session_hours(client, settings, hours, words):
    client.app.state.settings = replace(settings, session_max_hours=hours)
    assert words in client.get("/admin/sign-in?expired=limit").text


def test_the_register_page_of_an_event_not_yet_open_says_when_without_contradicting_itself(client, make_event):
    event = make_event(registration_opens_at=future(3))
    page = client.get(f"/events/{event.slug}/register")
    assert page.status_code == 409
    assert "Registration opens" in page.text and "The form will be here then." in page.text
    assert "not taking registrations" not in page.text


@pytest.mark.parametrize(("overrides", "words"), [
    ({"status": "cancelled"}, "This event will not take place"),
    ({"starts_at": future(-1), "ends_at": future(1)}, "Registration is over."),
    ({"registration_closes_at": future(-1)}, "Registration has closed."),
    ({"capacity": 0, "waitlist": False}, "this event has no waiting list"),
])
def test_the_register_page_of_a_closed_event_says_why(client, make_event, overrides, words):
    page = client.get(f"/events/{make_event(**overrides).slug}/register")
    assert page.status_code == 409
    assert words in page.text and "Registration opens" not in page.text


@pytest.mark.parametrize(("people", "words"), [(1, "wrote 1 registration to"), (2, "wrote 2 registrations to")])
def test_the_roster_export_command_counts_what_it_wrote(portal_env, make_event, make_registration, capsys, people, words):
    event = make_event()
    for _ in range(people):
        make_registration(event, status=S.CONFIRMED)
    assert cli.main(["export", "roster", event.slug, "-o", "out.csv"]) == 0
    assert words in capsys.readouterr().err


def test_saving_a_session_says_its_counts_in_their_number():
    """The timetable editor's message after a save that told people and promoted others."""
    def said(told: int, promoted: int) -> str:
        return " ".join(_saved(SessionReport(session=None, changed=["room"], told=told, promoted=promoted, clashes=[]), "Saved."))  # type: ignore[arg-type]

    assert "1 person who chose it is being emailed" in said(1, 1)
    assert "2 people who chose it are being emailed" in said(2, 2)
    assert "1 person from its waiting list now has a place and is being told." in said(1, 1)
    assert "2 people from its waiting list now have places and are being told." in said(2, 2)

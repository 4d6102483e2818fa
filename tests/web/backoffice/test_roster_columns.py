"""The roster's columns: the ones an organiser needs at a glance by default, a picker for the
rest kept per organiser (on every event's roster, and nobody else's), unknown names ignored;
short times with the zone named once; each row a card on a phone, with its actions."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from portal.models import Organiser, Registration, RegistrationStatus
from portal.rosters.columns import DEFAULT
from tests.conftest import csrf_from
from tests.web.backoffice.conftest import sign_in

DEFAULT_HEADINGS = ["Select", "Name", "Organisation", "Status", "Registered", "Checked in", "Actions"]


def headings(page: str) -> list[str]:
    head = page.split('<table class="striped roster cards-on-phone">', 1)[1].split("</thead>", 1)[0]
    # The heading's text, without the arrow of the column the roster is sorted by.
    return [html.unescape(re.sub(r"<[^>]+>|[▲▼]", "", h)).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", head, re.DOTALL)]


def choose(client, slug: str, *names: str, **back: str):  # type: ignore[no-untyped-def]
    """Pick columns with the form under the roster, as an organiser does."""
    page = client.get(f"/admin/events/{slug}")
    assert page.status_code == 200
    return client.post(f"/admin/events/{slug}/columns", data={"csrf_token": csrf_from(page.text), "column": list(names), **back})


def stored(sessions, organiser):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.get_one(Organiser, organiser.id).roster_columns


@pytest.fixture
def event(make_event, make_registration):  # type: ignore[no-untyped-def]
    event = make_event(slug="seminar")
    make_registration(
        event, name="Ann Lee", email="ann@example.org", organisation="Ministry of Health", status=RegistrationStatus.CONFIRMED,
        created_at=datetime(2027, 3, 3, 6, 5, tzinfo=UTC),
    )
    make_registration(event, name="Bo Chan", email="bo@example.org", status=RegistrationStatus.PENDING)
    return event


def test_the_default_columns_are_those_needed_at_a_glance(organiser_client, event):
    page = organiser_client.get("/admin/events/seminar").text
    assert headings(page) == DEFAULT_HEADINGS
    assert "ann@example.org" not in page.split("<tbody>", 1)[1].split("</table>", 1)[0]
    # A short time in the table; the zone named once, in the caption; the full time as the title.
    assert "Times in Asia/Singapore" in page
    assert '<time datetime="2027-03-03T06:05:00+00:00" title="Wed 3 Mar 2027, 14:05 (Asia/Singapore, UTC+08)">3 Mar, 14:05</time>' in page
    # Each row is a card on a phone, every cell labelled.
    assert '<td data-label="Status">' in page and '<td data-label="Checked in">' in page


def test_a_choice_is_kept_for_the_organiser_on_every_roster(organiser_client, organiser, event, make_event, make_registration, sessions):
    response = choose(organiser_client, "seminar", "email", "status", status="confirmed", q="ann")
    assert response.status_code == 303
    # Back to the roster as it was filtered.
    assert response.headers["location"] == "http://testserver/admin/events/seminar?status=confirmed&q=ann#roster-heading"
    assert stored(sessions, organiser) == ["email", "status"]
    page = organiser_client.get("/admin/events/seminar").text
    assert "The roster shows the columns you chose, on every event." in page
    assert headings(page) == ["Select", "Name", "Email", "Status"]
    assert '<td data-label="Email" class="roster-email">ann@example.org</td>' in page
    make_registration(make_event(slug="workshop"), name="Cy Diaz")
    assert headings(organiser_client.get("/admin/events/workshop").text) == ["Select", "Name", "Email", "Status"]


def test_another_organisers_columns_are_unaffected(organiser_client, other_client, make_organiser, event):
    assert choose(organiser_client, "seminar", "email").status_code == 303
    colleague = make_organiser("cai@example.org")
    assert sign_in(other_client, colleague.email).status_code == 303
    assert headings(other_client.get("/admin/events/seminar").text) == DEFAULT_HEADINGS
    assert headings(organiser_client.get("/admin/events/seminar").text) == ["Select", "Name", "Email"]


def test_unknown_names_are_ignored_and_an_empty_choice_is_the_default(organiser_client, organiser, event, sessions):
    assert choose(organiser_client, "seminar", "status", "password_hash", "<script>", "email").status_code == 303
    assert stored(sessions, organiser) == ["email", "status"]  # in the table's order
    page = organiser_client.get("/admin/events/seminar").text
    assert headings(page) == ["Select", "Name", "Email", "Status"] and "<script>" not in page
    assert choose(organiser_client, "seminar", "nonsense").status_code == 303
    assert stored(sessions, organiser) is None
    assert choose(organiser_client, "seminar").status_code == 303
    assert stored(sessions, organiser) is None
    page = organiser_client.get("/admin/events/seminar").text
    assert "The roster shows the usual columns." in page and headings(page) == DEFAULT_HEADINGS
    # The picker (a page of its own, linked from the roster) shows the default ones ticked.
    assert 'href="http://testserver/admin/events/seminar/columns">Choose the columns</a>' in page
    picker = organiser_client.get("/admin/events/seminar/columns").text
    assert [m for m in re.findall(r'name="column" value="(\w+)" checked', picker)] == list(DEFAULT)


def test_the_picker_keeps_the_rosters_filter_and_knows_the_choice(organiser_client, event):
    picker = organiser_client.get("/admin/events/seminar/columns?status=pending&q=bo&sort=name")
    assert picker.status_code == 200
    assert '<input type="hidden" name="status" value="pending">' in picker.text and '<input type="hidden" name="sort" value="name">' in picker.text
    assert 'href="http://testserver/admin/events/seminar?status=pending&amp;q=bo&amp;sort=name">' in picker.text  # back
    response = organiser_client.post("/admin/events/seminar/columns", data={"csrf_token": csrf_from(picker.text), "column": ["email"], "status": "pending", "q": "bo", "sort": "name"})
    assert response.headers["location"] == "http://testserver/admin/events/seminar?status=pending&q=bo&sort=name#roster-heading"
    roster = organiser_client.get("/admin/events/seminar?status=pending&q=bo&sort=name").text
    assert "Choose the columns (yours now: 1 column beside the name)" in roster
    assert [m for m in re.findall(r'name="column" value="(\w+)" checked', organiser_client.get("/admin/events/seminar/columns").text)] == ["email"]
    assert organiser_client.get("/admin/events/no-such-event/columns").status_code == 404


def test_a_damaged_filter_in_the_picker_loses_only_the_filter(organiser_client, organiser, event, sessions):
    response = choose(organiser_client, "seminar", "email", status="nobody", sort="shoe-size")
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/admin/events/seminar#roster-heading"
    assert stored(sessions, organiser) == ["email"]


def test_a_rows_action_checks_in_from_the_roster(organiser_client, event, sessions):
    page = organiser_client.get("/admin/events/seminar").text
    with sessions() as session:
        ann = session.query(Registration).filter_by(name="Ann Lee").one()
        bo = session.query(Registration).filter_by(name="Bo Chan").one()
    button = f'formaction="http://testserver/admin/registrations/{ann.id}/action" name="action" value="check_in" aria-label="Check in Ann Lee"'
    assert button in page
    assert f'formaction="http://testserver/admin/registrations/{bo.id}/action" name="action" value="approve"' in page
    response = organiser_client.post(f"/admin/registrations/{ann.id}/action", data={"csrf_token": csrf_from(page), "action": "check_in"})
    assert response.status_code == 303
    with sessions() as session:
        assert session.get_one(Registration, ann.id).checked_in_at is not None
    assert button not in organiser_client.get("/admin/events/seminar").text

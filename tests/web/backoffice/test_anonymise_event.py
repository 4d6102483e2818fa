"""Anonymising an ended event's registrations from the back office, early: the confirmation
says how many and what goes, the POST does it (CSRF, audited), the roster shows the rows as
anonymised with their date and no actions that email. And a programme's retention on its form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, Programme, Registration, RegistrationStatus, Upload
from portal.registrations import uploads
from tests.web.backoffice.conftest import post


@pytest.fixture
def ended(make_event, make_registration):  # type: ignore[no-untyped-def]
    end = (datetime.now(UTC) - timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    event = make_event(starts_at=end - timedelta(hours=2), ends_at=end)
    people = [
        make_registration(event, name="Ada Lovelace", email="ada@example.org", organisation="Analytical Engines"),
        make_registration(event, name="Grace Hopper", email="grace@example.org"),
        make_registration(event, name="Alan Turing", email="alan@example.org", status=RegistrationStatus.WAITLISTED),
    ]
    return event, people


def test_the_confirmation_says_how_many_and_what_goes_and_stays(organiser_client, ended):  # type: ignore[no-untyped-def]
    event, _ = ended
    roster = organiser_client.get(f"/admin/events/{event.slug}")
    assert f'href="http://testserver/admin/events/{event.slug}/anonymise"' in roster.text
    page = organiser_client.get(f"/admin/events/{event.slug}/anonymise")
    assert page.status_code == 200
    assert "<strong>3 registrations</strong> will be anonymised" in page.text
    assert "before the end of the retention period" in page.text
    assert "kept for 2 years after it ends" in page.text and "(Asia/Singapore time)" in page.text
    assert "What goes" in page.text and "What stays" in page.text and "Certificates already issued" in page.text


def test_anonymising_removes_the_data_keeps_the_counts_and_is_audited(organiser_client, ended, sessions, settings, run):  # type: ignore[no-untyped-def]
    event, people = ended
    stored = uploads.save(settings.upload_directory, b"%PDF-1.4 a CV\n")
    run(lambda session: session.add(Upload(
        stored_name=stored, registration_id=people[0].id, event_id=event.id, question_key="cv",
        filename="cv.pdf", content_type="application/pdf", size=14,
    )))
    page = f"/admin/events/{event.slug}/anonymise"
    response = post(organiser_client, page, token_from=page)
    assert response.status_code == 303
    assert response.headers["location"] == f"http://testserver/admin/events/{event.slug}"
    roster = organiser_client.get(response.headers["location"])
    assert "Anonymised 3 registrations." in roster.text
    for person in people:
        assert person.name not in roster.text and person.email not in roster.text
    assert roster.text.count("(anonymised)") == 3
    # The counts stay right: two confirmed, one waiting; and no row can be selected or acted on.
    assert '<div><dt>Confirmed</dt><dd>2' in roster.text
    assert '<div><dt>Waiting list</dt><dd>1</dd>' in roster.text
    table = roster.text.split("<tbody>")[1].split("</tbody>")[0]
    assert 'type="checkbox"' not in table and "formaction=" not in table
    assert not uploads.path_of(settings.upload_directory, stored).exists()
    with sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "event.anonymise")).all()
        assert (entry.event_id, entry.after) == (event.id, {"count": 3})

    # The registration's page: anonymised, with its date, and nothing that emails.
    detail = organiser_client.get(f"/admin/registrations/{people[0].id}")
    assert detail.status_code == 200
    assert "Anonymised on" in detail.text and "mailto:" not in detail.text
    assert 'name="action"' not in detail.text and "Edit details" not in detail.text

    # Again: nothing left to do, and said so.
    again = post(organiser_client, page, token_from=page)
    assert "every registration of this event is anonymised already" in organiser_client.get(again.headers["location"]).text


def test_an_event_not_yet_ended_is_refused_with_a_message(organiser_client, make_event, make_registration, sessions):  # type: ignore[no-untyped-def]
    event = make_event()
    registration = make_registration(event, name="Ada Lovelace")
    page = f"/admin/events/{event.slug}/anonymise"
    shown = organiser_client.get(page)
    assert shown.status_code == 200 and "has not ended yet" in shown.text and 'type="submit"' not in shown.text.split("<h1")[1]
    response = post(organiser_client, page, token_from=page)
    assert response.status_code == 303
    assert "has not ended yet" in organiser_client.get(response.headers["location"]).text
    with sessions() as session:
        assert session.get_one(Registration, registration.id).name == "Ada Lovelace"


def test_without_the_csrf_token_nothing_happens(organiser_client, ended, sessions):  # type: ignore[no-untyped-def]
    event, people = ended
    response = organiser_client.post(f"/admin/events/{event.slug}/anonymise", data={})
    assert response.status_code == 403
    with sessions() as session:
        assert session.get_one(Registration, people[0].id).anonymised_at is None


def test_a_roster_action_on_an_anonymised_registration_emails_nobody(organiser_client, ended, outbox):  # type: ignore[no-untyped-def]
    event, people = ended
    page = f"/admin/events/{event.slug}/anonymise"
    post(organiser_client, page, token_from=page)
    before = len(outbox())
    roster = f"/admin/events/{event.slug}"
    response = post(organiser_client, f"/admin/registrations/{people[2].id}/action", {"action": "promote"}, token_from=roster)
    assert response.status_code == 303
    assert "is anonymised" in organiser_client.get(response.headers["location"]).text
    assert len(outbox()) == before


def test_a_programme_keeps_registrations_for_its_own_period(organiser_client, client, make_programme, sessions):  # type: ignore[no-untyped-def]
    make_programme(code="tatc", name="TATC")
    edit = "/admin/programmes/tatc/edit"
    form = organiser_client.get(edit)
    assert "Keep registrations for" in form.text and "The site's default: 2 years (P2Y)" in form.text
    data = {"name": "TATC", "admission": "open", "summary": "", "description": ""}
    bad = post(organiser_client, edit, {**data, "retention": "two years"}, token_from=edit)
    assert bad.status_code == 422 and "is not a period like P24M" in bad.text
    assert post(organiser_client, edit, {**data, "retention": "p6m"}, token_from=edit).status_code == 303
    with sessions() as session:
        assert session.scalar(select(Programme.retention).where(Programme.code == "tatc")) == "P6M"
    assert "Registrations are kept for 6 months after each run ends" in client.get("/programmes/tatc").text
    assert post(organiser_client, edit, {**data, "retention": ""}, token_from=edit).status_code == 303
    with sessions() as session:
        assert session.scalar(select(Programme.retention).where(Programme.code == "tatc")) is None

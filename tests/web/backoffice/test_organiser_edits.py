"""Organisers correct a participant's details (audited before and after), add internal notes
the participant never sees, and add walk-ins at the door under the same capacity rules."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from portal.models import AuditEntry, CheckIn, Event, EventStatus, Registration, RegistrationNote
from portal.models import RegistrationStatus as S
from tests.conftest import running_today
from tests.web.backoffice.conftest import post, token

SECRET_NOTE = "Asked for a vegetarian lunch; seat away from the delegation of <b>Xanadu</b>."


def audit_entries(run, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return run(lambda session: list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))))


def registration(run, registration_id: int) -> Registration:  # type: ignore[no-untyped-def]
    return run(lambda session: session.get_one(Registration, registration_id))


@pytest.fixture
def today(make_event):  # type: ignore[no-untyped-def]
    """An event on now, within one day in its zone (Singapore) whatever the hour the suite runs."""
    starts, ends = running_today()
    return make_event(title="Door Day", starts_at=starts, ends_at=ends, capacity=2)


# Editing details


def test_an_organiser_corrects_the_details_and_the_log_keeps_before_and_after(organiser_client, organiser, make_event, make_registration, run, outbox):
    event = make_event()
    r = make_registration(event, name="Jon Smyth", email="jon@example.org", organisation="MINDEF")
    page = organiser_client.get(f"/admin/registrations/{r.id}")
    assert f'/admin/registrations/{r.id}/edit"' in page.text
    form = organiser_client.get(f"/admin/registrations/{r.id}/edit")
    assert form.status_code == 200
    assert 'value="Jon Smyth"' in form.text and 'value="jon@example.org"' in form.text
    mails = len(outbox())

    done = post(organiser_client, f"/admin/registrations/{r.id}/edit", {"name": "John Smith", "email": "John.Smith@Example.org", "organisation": "MINDEF"})

    assert done.status_code == 303
    assert done.headers["location"].endswith(f"/admin/registrations/{r.id}")
    after = registration(run, r.id)
    assert (after.name, after.email, after.organisation) == ("John Smith", "john.smith@example.org", "MINDEF")
    [entry] = audit_entries(run, "registration.edit")
    assert entry.organiser_id == organiser.id and entry.registration_id == r.id
    # Only what changed, both sides.
    assert entry.before == {"name": "Jon Smyth", "email": "jon@example.org"}
    assert entry.after == {"name": "John Smith", "email": "john.smith@example.org"}
    # A new address gets a new private link, and only that: the old link, in the first
    # address's mailbox, would otherwise open the new address's data (and could erase it).
    [mail] = outbox()[mails:]
    assert mail.to_address == "john.smith@example.org"
    assert after.token != r.token and f"/registrations/{after.token}" in mail.body_text and r.token not in mail.body_text
    assert organiser_client.get(f"/registrations/{r.token}").status_code == 404
    shown = unescape(organiser_client.get(f"/admin/registrations/{r.id}").text)
    assert "Saved: name, email. The old private link no longer works: the new address was emailed its new link, and nothing else." in shown
    assert "Details corrected by an organiser" in shown
    assert "name: Jon Smyth → John Smith" in shown


def test_a_corrected_name_alone_keeps_the_link_and_emails_nobody(organiser_client, make_event, make_registration, run, outbox):
    r = make_registration(make_event(), name="Jon Smyth", email="jon@example.org")
    mails = len(outbox())
    post(organiser_client, f"/admin/registrations/{r.id}/edit", {"name": "John Smith", "email": "jon@example.org", "organisation": ""})
    assert registration(run, r.id).token == r.token
    assert len(outbox()) == mails
    assert "The participant was not emailed." in unescape(organiser_client.get(f"/admin/registrations/{r.id}").text)


def test_an_email_another_registration_of_the_event_has_is_refused_with_a_link_to_it(organiser_client, make_event, make_registration, run):
    event = make_event()
    r = make_registration(event, name="First", email="first@example.org")
    other = make_registration(event, name="Second", email="second@example.org")

    refused = post(organiser_client, f"/admin/registrations/{r.id}/edit", {"name": "First", "email": "SECOND@example.org", "organisation": ""})

    assert refused.status_code == 409
    assert "second@example.org is already registered for this event" in unescape(refused.text)
    assert f'/admin/registrations/{other.id}"' in refused.text
    assert 'value="SECOND@example.org"' in refused.text  # what was typed stays
    assert registration(run, r.id).email == "first@example.org"
    assert audit_entries(run, "registration.edit") == []


def test_the_same_email_at_another_event_or_on_a_cancelled_registration_is_allowed(organiser_client, make_event, make_registration, run):
    event, elsewhere = make_event(), make_event()
    r = make_registration(event, email="first@example.org")
    make_registration(elsewhere, email="moved@example.org")
    make_registration(event, email="old@example.org", status=S.CANCELLED)
    assert post(organiser_client, f"/admin/registrations/{r.id}/edit", {"name": "N", "email": "moved@example.org"}).status_code == 303
    assert post(organiser_client, f"/admin/registrations/{r.id}/edit", {"name": "N", "email": "old@example.org"}).status_code == 303
    assert registration(run, r.id).email == "old@example.org"


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "", "email": "a@example.org"}, "Enter the participant&#39;s full name."),
    ({"name": "A", "email": "not an address"}, "Enter a complete email address"),
    ({"name": "A\u202eB", "email": "a@example.org"}, "Remove the control characters"),
])
def test_bad_details_get_the_form_again_with_the_message(organiser_client, make_event, make_registration, run, fields, message):
    r = make_registration(make_event(), name="Kept")
    refused = post(organiser_client, f"/admin/registrations/{r.id}/edit", fields)
    assert refused.status_code == 422
    assert message in refused.text
    assert registration(run, r.id).name == "Kept"


def test_an_unknown_registration_is_not_found(organiser_client):
    assert organiser_client.get("/admin/registrations/999999/edit").status_code == 404
    assert post(organiser_client, "/admin/registrations/999999/edit", {"name": "A", "email": "a@example.org"}).status_code == 404
    assert post(organiser_client, "/admin/registrations/999999/notes", {"text": "x"}).status_code == 404


# Internal notes


def test_a_note_is_listed_for_organisers_and_audited_without_its_text(organiser_client, organiser, make_event, make_registration, run):
    r = make_registration(make_event())
    done = post(organiser_client, f"/admin/registrations/{r.id}/notes", {"text": f"  {SECRET_NOTE}  "})
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"/admin/registrations/{r.id}#notes")
    [note] = run(lambda session: list(session.scalars(select(RegistrationNote))))
    assert (note.text, note.organiser_id, note.registration_id) == (SECRET_NOTE, organiser.id, r.id)
    page = organiser_client.get(f"/admin/registrations/{r.id}")
    assert "Note added. Only organisers see it." in page.text
    # Escaped, with who wrote it and when, in the event's zone, named.
    assert "seat away from the delegation of &lt;b&gt;Xanadu&lt;/b&gt;." in page.text
    notes = page.text.split('id="notes"')[1].split("</section>")[0]
    assert "Olga Organiser" in notes and "(Asia/Singapore, UTC+08)" in notes
    [entry] = audit_entries(run, "registration.note")
    assert entry.organiser_id == organiser.id and entry.registration_id == r.id
    assert "Xanadu" not in str(entry.after) and "Xanadu" not in str(entry.before)


def test_an_empty_note_is_refused(organiser_client, make_event, make_registration, run):
    r = make_registration(make_event())
    done = post(organiser_client, f"/admin/registrations/{r.id}/notes", {"text": "   "})
    assert done.status_code == 303
    assert "The note was not added: Write the note first." in organiser_client.get(f"/admin/registrations/{r.id}").text
    assert run(lambda session: list(session.scalars(select(RegistrationNote)))) == []


def test_the_participant_never_sees_a_note(organiser_client, client, make_event, make_registration, run, outbox, app):
    event = make_event()
    r = make_registration(event, email="kept@example.org")
    post(organiser_client, f"/admin/registrations/{r.id}/notes", {"text": SECRET_NOTE})
    # Then something that emails them, and a change of their details.
    post(organiser_client, f"/admin/registrations/{r.id}/action", {"action": "waitlist"})
    post(organiser_client, f"/admin/registrations/{r.id}/action", {"action": "cancel", "confirmed": "yes"})
    assert outbox(), "the participant was emailed"
    for message in outbox():
        assert "Xanadu" not in message.body_text and "Xanadu" not in (message.body_html or "")
        assert "Internal note" not in message.body_text
    manage = client.get(f"/registrations/{r.token}")
    assert manage.status_code == 200
    assert "Xanadu" not in manage.text and "note" not in manage.text.lower().replace("notice", "")
    feed = client.get(f"/registrations/{r.token}/calendar.ics")
    assert feed.status_code == 200 and "Xanadu" not in feed.text
    # The roster's export is the organisers' own file: notes are not in it either.
    export = organiser_client.get(f"/admin/events/{event.slug}/export.csv")
    assert "Xanadu" not in export.text


# Walk-ins at the door


def test_a_walk_in_is_confirmed_checked_in_counted_and_emailed(organiser_client, organiser, today, run, outbox):
    page = organiser_client.get(f"/admin/events/{today.slug}/check-in")
    assert "Add a walk-in" in page.text and '/walk-in"' in page.text
    assert "Admit anyway" not in page.text  # seats are left: no override offered
    done = post(organiser_client, f"/admin/events/{today.slug}/walk-in", {
        "walk_in-name": "Walk In", "walk_in-email": "Walk.In@Example.org", "walk_in-organisation": "Coast Guard",
    }, token_from=f"/admin/events/{today.slug}/check-in")
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"/admin/events/{today.slug}/check-in")
    [r] = run(lambda session: list(session.scalars(select(Registration))))
    assert (r.name, r.email, r.organisation, r.status) == ("Walk In", "walk.in@example.org", "Coast Guard", S.CONFIRMED)
    assert r.checkin_code and r.checked_in_at is not None
    [came] = run(lambda session: list(session.scalars(select(CheckIn))))
    assert came.registration_id == r.id and came.organiser_id == organiser.id and came.door == "walk-in at the door"
    door = unescape(organiser_client.get(f"/admin/events/{today.slug}/check-in").text)
    assert "Added and checked in: Walk In." in door
    assert re.search(r'<strong id="check-in-count">1</strong> of 1 checked in', door)
    [walk_in] = audit_entries(run, "registration.walk_in")
    assert walk_in.after["status"] == "confirmed" and "over capacity" not in walk_in.after
    assert len(audit_entries(run, "registration.check_in")) == 1
    [mail] = outbox()
    assert mail.kind == "confirmed" and mail.to_address == "walk.in@example.org" and f"/registrations/{r.token}" in mail.body_text


@pytest.mark.parametrize(("seats", "words"), [(1, "1 seat"), (2, "2 seats")])
def test_a_full_event_refuses_a_walk_in_unless_the_organiser_admits_them_over_capacity(
    organiser_client, organiser, today, make_registration, run, seats, words,
):
    run(lambda session: setattr(session.get_one(Event, today.id), "capacity", seats))
    for _ in range(seats):
        make_registration(today)
    door = organiser_client.get(f"/admin/events/{today.slug}/check-in")
    assert "Admit anyway (over capacity)" in door.text
    person = {"walk_in-name": "Late Guest", "walk_in-email": "late@example.org", "walk_in-organisation": ""}

    refused = post(organiser_client, f"/admin/events/{today.slug}/walk-in", person, token_from=f"/admin/events/{today.slug}/check-in")
    assert refused.status_code == 409
    text = unescape(refused.text)
    assert f"The event is full: {seats} confirmed of {words}. Nothing was added." in text
    assert 'name="walk_in-over_capacity"' in text and 'value="Late Guest"' in text
    assert run(lambda session: session.scalar(select(Registration).where(Registration.email == "late@example.org"))) is None

    admitted = post(organiser_client, f"/admin/events/{today.slug}/walk-in", {**person, "walk_in-over_capacity": "y"},
                    token_from=f"/admin/events/{today.slug}/check-in")
    assert admitted.status_code == 303
    r = run(lambda session: session.scalars(select(Registration).where(Registration.email == "late@example.org")).one())
    assert r.status == S.CONFIRMED and r.checked_in_at is not None
    [entry] = audit_entries(run, "registration.walk_in")
    assert entry.organiser_id == organiser.id
    assert entry.after["over capacity"] == f"admitted by the organiser with {seats} confirmed of {words}"
    shown = unescape(organiser_client.get(f"/admin/events/{today.slug}/check-in").text)
    assert f"Admitted over capacity: {seats + 1} confirmed of {words}. This is in the audit log." in shown


@pytest.mark.parametrize("status", [S.CONFIRMED, S.WAITLISTED])
def test_an_address_registered_already_is_refused_with_a_link_and_a_check_in_when_confirmed(organiser_client, today, make_registration, run, status):
    there = make_registration(today, name="Already Here", email="here@example.org", status=status)
    refused = post(organiser_client, f"/admin/events/{today.slug}/walk-in", {"walk_in-name": "X", "walk_in-email": "HERE@example.org"},
                   token_from=f"/admin/events/{today.slug}/check-in")
    assert refused.status_code == 409
    assert "here@example.org is already registered for this event" in refused.text
    assert f'/admin/registrations/{there.id}"' in refused.text
    offers = f'/admin/registrations/{there.id}/check-in"' in refused.text
    assert offers == (status == S.CONFIRMED)
    assert run(lambda session: len(list(session.scalars(select(Registration))))) == 1


def test_a_walk_in_with_bad_fields_gets_the_form_again(organiser_client, today, run):
    refused = post(organiser_client, f"/admin/events/{today.slug}/walk-in", {"walk_in-name": "", "walk_in-email": "nope"},
                   token_from=f"/admin/events/{today.slug}/check-in")
    assert refused.status_code == 422
    assert "Enter the participant&#39;s full name." in refused.text and "Enter a complete email address" in refused.text
    assert run(lambda session: list(session.scalars(select(Registration)))) == []


def test_a_cancelled_event_takes_no_walk_in(organiser_client, make_event, run):
    event = make_event(status=EventStatus.CANCELLED)
    done = post(organiser_client, f"/admin/events/{event.slug}/walk-in", {"walk_in-name": "X", "walk_in-email": "x@example.org"})
    assert done.status_code == 303
    assert run(lambda session: list(session.scalars(select(Registration)))) == []


@pytest.mark.parametrize("path", ["/admin/registrations/{id}/edit", "/admin/registrations/{id}/notes", "/admin/events/{slug}/walk-in"])
def test_the_new_forms_refuse_a_post_without_a_csrf_token(organiser_client, make_event, make_registration, run, path):
    event = make_event()
    r = make_registration(event, name="Unchanged")
    token(organiser_client)  # the CSRF cookie, but no token in the form
    url = path.format(id=r.id, slug=event.slug)
    answer = organiser_client.post(url, data={"name": "Changed", "email": "c@example.org", "text": "note", "walk_in-name": "W", "walk_in-email": "w@example.org"})
    assert answer.status_code == 403
    assert registration(run, r.id).name == "Unchanged"
    assert run(lambda session: len(list(session.scalars(select(Registration))))) == 1
    assert run(lambda session: list(session.scalars(select(RegistrationNote)))) == []

"""Roster actions that email people ask first: how many they email, whom, and a note to put in
the emails; the confirmation acts once, however many times it is sent."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from portal.models import AuditEntry, Registration, RegistrationStatus
from tests.web.backoffice.conftest import post, token

S = RegistrationStatus
NONCE = re.compile(r'name="nonce" value="([A-Za-z0-9_-]+)"')


def _roster(event) -> str:  # type: ignore[no-untyped-def]
    return f"/admin/events/{event.slug}"


def _ask(client, event, action, ids):  # type: ignore[no-untyped-def]
    return post(client, f"{_roster(event)}/registrations", {"action": action, "id": ids}, token_from=_roster(event))


def _confirm(client, event, action, ids, asked, note=""):  # type: ignore[no-untyped-def]
    nonce = NONCE.search(asked.text).group(1)
    data = {"csrf_token": token(client, _roster(event)), "action": action, "id": ids, "confirmed": "yes", "nonce": nonce, "note": note}
    return client.post(f"{_roster(event)}/registrations", data=data)


def _statuses(sessions, people):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return [session.get_one(Registration, p.id).status for p in people]


def test_reject_asks_first_with_the_count_of_those_it_emails(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    pending = [make_registration(event, name=f"Applicant {i}", status=S.PENDING) for i in range(3)]
    gone = make_registration(event, name="Already Gone", status=S.CANCELLED)
    ids = [p.id for p in [*pending, gone]]
    asked = _ask(organiser_client, event, "reject", ids)
    assert asked.status_code == 200
    text = html.unescape(asked.text)
    # Three are active; the cancelled one is not rejected again, nor emailed.
    assert "This will email 3 people" in text and "Reject 3 registrations?" in text
    assert all(p.name in text for p in pending)
    assert "1 selected registration will be left as it is" in text and "Already Gone is cancelled already" in text
    assert 'name="note"' in asked.text and 'name="csrf_token"' in asked.text
    # Asking changed nothing and sent nothing.
    assert _statuses(sessions, pending) == [S.PENDING] * 3 and outbox() == []


def test_one_person_is_said_in_the_singular(organiser_client, make_event, make_registration):
    event = make_event(capacity=None)
    one = make_registration(event, status=S.PENDING)
    text = html.unescape(_ask(organiser_client, event, "approve", [one.id]).text)
    assert "This will email 1 person" in text and "Approve 1 registration?" in text


def test_a_long_selection_names_the_first_twenty(organiser_client, make_event, make_registration):
    event = make_event(capacity=None)
    people = [make_registration(event, name=f"Waiting Person {i:02d}", status=S.WAITLISTED) for i in range(28)]
    text = html.unescape(_ask(organiser_client, event, "promote", [p.id for p in people]).text)
    assert "This will email 28 people" in text and "and 8 more" in text
    assert "Waiting Person 19" in text and "Waiting Person 20" not in text


def test_confirming_acts_and_the_emails_carry_the_note_escaped(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    people = [make_registration(event, name=f"Applicant {i}", status=S.PENDING) for i in range(2)]
    ids = [p.id for p in people]
    note = "We had 300 applications for 40 places.\n<b>Apply</b> again in spring & good luck."
    asked = _ask(organiser_client, event, "reject", ids)
    done = _confirm(organiser_client, event, "reject", ids, asked, note)
    assert done.status_code == 303
    assert "Rejected: 2." in organiser_client.get(done.headers["location"]).text
    assert _statuses(sessions, people) == [S.REJECTED] * 2
    sent = outbox()
    assert sorted(m.to_address for m in sent) == sorted(p.email for p in people)
    for message in sent:
        assert message.kind == "rejected"
        assert "A note from the organisers" in message.body_text and note in message.body_text
        assert "A note from the organisers" in message.body_html
        assert "&lt;b&gt;Apply&lt;/b&gt; again in spring &amp; good luck." in message.body_html
        assert "<b>Apply</b>" not in message.body_html
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.reject")).all()
    assert len(entries) == 2 and all(e.after["note"] == note for e in entries)
    # The trail shows the note, not the one-time value.
    trail = html.unescape(organiser_client.get(f"/admin/registrations/{ids[0]}").text)
    assert "We had 300 applications" in trail and "nonce" not in trail


def test_without_a_note_the_email_has_no_note_heading(organiser_client, make_event, make_registration, outbox):
    event = make_event(capacity=None)
    person = make_registration(event, status=S.PENDING)
    asked = _ask(organiser_client, event, "approve", [person.id])
    assert _confirm(organiser_client, event, "approve", [person.id], asked).status_code == 303
    (message,) = outbox()
    assert message.kind == "approved" and "A note from the organisers" not in message.body_text + message.body_html


def test_going_back_from_the_confirmation_changes_nothing(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    people = [make_registration(event, status=S.CONFIRMED) for _ in range(2)]
    asked = _ask(organiser_client, event, "cancel", [p.id for p in people])
    back = re.search(r'<a href="([^"]+)" role="button"', asked.text).group(1)
    assert "Keep them" in asked.text
    assert organiser_client.get(html.unescape(back)).status_code == 200
    assert _statuses(sessions, people) == [S.CONFIRMED] * 2 and outbox() == []


def test_a_double_submit_acts_once(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    people = [make_registration(event, status=S.PENDING) for _ in range(2)]
    ids = [p.id for p in people]
    asked = _ask(organiser_client, event, "approve", ids)
    first = _confirm(organiser_client, event, "approve", ids, asked, "See you there")
    second = _confirm(organiser_client, event, "approve", ids, asked, "See you there")
    assert first.status_code == second.status_code == 303
    assert "the same confirmation came twice, and acted once" in organiser_client.get(second.headers["location"]).text
    assert _statuses(sessions, people) == [S.CONFIRMED] * 2
    assert len(outbox()) == 2
    with sessions() as session:
        assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "registration.approve")).all()) == 2


def test_a_new_confirmation_page_acts_again(organiser_client, make_event, make_registration, outbox, sessions):
    # The same people, the same action, asked afresh: a new one-time value, so it is no repeat.
    event = make_event(capacity=None)
    person = make_registration(event, status=S.CONFIRMED)
    waiting = make_registration(event, status=S.WAITLISTED)
    asked = _ask(organiser_client, event, "promote", [waiting.id])
    assert _confirm(organiser_client, event, "promote", [waiting.id], asked).status_code == 303
    asked = _ask(organiser_client, event, "cancel", [person.id, waiting.id])
    assert "This will email 2 people" in html.unescape(asked.text)
    assert _confirm(organiser_client, event, "cancel", [person.id, waiting.id], asked).status_code == 303
    assert _statuses(sessions, [person, waiting]) == [S.CANCELLED] * 2
    assert [m.kind for m in outbox()] == ["promoted", "cancelled", "cancelled"]


def test_confirming_without_csrf_is_refused(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    person = make_registration(event, status=S.PENDING)
    asked = _ask(organiser_client, event, "reject", [person.id])
    nonce = NONCE.search(asked.text).group(1)
    refused = organiser_client.post(
        f"{_roster(event)}/registrations", data={"action": "reject", "id": [person.id], "confirmed": "yes", "nonce": nonce}
    )
    assert refused.status_code == 403
    assert _statuses(sessions, [person]) == [S.PENDING] and outbox() == []


def test_a_note_too_long_is_asked_again_with_nothing_done(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    person = make_registration(event, status=S.PENDING)
    asked = _ask(organiser_client, event, "reject", [person.id])
    again = _confirm(organiser_client, event, "reject", [person.id], asked, "x" * 1001)
    assert again.status_code == 422 and "Keep the note under 1,000 characters." in again.text
    assert "This will email 1 person" in html.unescape(again.text)
    assert _statuses(sessions, [person]) == [S.PENDING] and outbox() == []


def test_waitlisting_counts_only_those_it_would_move(organiser_client, make_event, make_registration):
    # One seat left: a pending applicant could take it, so moving them to the waiting list is
    # refused and they are not counted among those emailed.
    event = make_event(capacity=2)
    make_registration(event, status=S.CONFIRMED)
    seated = make_registration(event, name="Seated Person", status=S.CONFIRMED)
    make_registration(event, status=S.WAITLISTED)
    text = html.unescape(_ask(organiser_client, event, "waitlist", [seated.id]).text)
    assert "This will email 1 person" in text and "Move 1 registration to the waiting list?" in text
    assert "1 confirmed seat will be freed, and the first person on the waiting list will be given a seat and emailed too" in text


def test_checking_in_acts_at_once(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    person = make_registration(event, status=S.CONFIRMED)
    done = _ask(organiser_client, event, "check_in", [person.id])
    assert done.status_code == 303 and "Checked in: 1." in organiser_client.get(done.headers["location"]).text
    assert outbox() == []


def test_one_registrations_action_takes_a_note_too(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    person = make_registration(event, status=S.PENDING)
    page = f"/admin/registrations/{person.id}"
    assert 'name="note"' in organiser_client.get(page).text
    done = post(organiser_client, f"{page}/action", {"action": "approve", "note": "Bring <your> passport"}, token_from=page)
    assert done.status_code == 303 and _statuses(sessions, [person]) == [S.CONFIRMED]
    (message,) = outbox()
    assert "Bring <your> passport" in message.body_text and "Bring &lt;your&gt; passport" in message.body_html
    # Cancelling asks first, and the note goes through the question to the email.
    asked = post(organiser_client, f"{page}/action", {"action": "cancel", "note": "Sorry to see you go"}, token_from=page)
    assert asked.status_code == 200 and '<input type="hidden" name="note" value="Sorry to see you go">' in asked.text
    post(organiser_client, f"{page}/action", {"action": "cancel", "confirmed": "yes", "note": "Sorry to see you go"}, token_from=page)
    assert _statuses(sessions, [person]) == [S.CANCELLED]
    assert "Sorry to see you go" in outbox()[-1].body_text


def test_one_registrations_note_too_long_changes_nothing(organiser_client, make_event, make_registration, outbox, sessions):
    event = make_event(capacity=None)
    person = make_registration(event, status=S.PENDING)
    page = f"/admin/registrations/{person.id}"
    refused = post(organiser_client, f"{page}/action", {"action": "reject", "note": "x" * 1001}, token_from=page)
    assert "Keep the note under 1,000 characters." in organiser_client.get(refused.headers["location"]).text
    assert _statuses(sessions, [person]) == [S.PENDING] and outbox() == []

"""Organisers writing to part of a roster: the compose page, preview, a test to oneself,
sending once however often the form is sent, and the event's history of its messages."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.db import utcnow
from portal.mail.letters import audience_conditions
from portal.models import (
    AuditEntry,
    EventMessage,
    Mailing,
    MailingKind,
    MessageStatus,
    OutboxMessage,
    Registration,
    RegistrationStatus,
)
from portal.rosters.messages import SAMPLE_TOKEN
from tests.conftest import csrf_from

S = RegistrationStatus


@pytest.fixture
def event(make_event, make_registration, make_form):  # type: ignore[no-untyped-def]
    """An event with two confirmed (the first with markup in her name), one of them checked
    in, one waitlisted, one pending and one cancelled, and a meal question."""
    event = make_event(title="Maritime Security Seminar", capacity=None)
    make_form([
        {"key": "meal", "type": "choice", "label": "Meal", "choices": [{"value": "veg", "label": "Vegetarian"}, {"value": "any", "label": "Anything"}]},
        {"key": "topics", "type": "multichoice", "label": "Topics", "choices": [{"value": "law", "label": "Law of the sea"}, {"value": "ports", "label": "Ports"}]},
    ], event=event)
    make_registration(event, name="<i>Ann</i> Lee", email="ann@example.org", answers={"meal": "veg", "topics": ["law", "ports"]}, checked_in_at=utcnow())
    make_registration(event, name="Bo Tan", email="bo@example.org", answers={"meal": "any", "topics": ["ports"]})
    make_registration(event, name="Cy Wait", email="cy@example.org", status=S.WAITLISTED, answers={"meal": "veg"})
    make_registration(event, name="Di Pend", email="di@example.org", status=S.PENDING, answers={"meal": "veg"})
    make_registration(event, name="Ed Gone", email="ed@example.org", status=S.CANCELLED, answers={"meal": "veg"})
    return event


def compose_url(event: Any) -> str:
    return f"/admin/events/{event.slug}/messages/new"


def history_url(event: Any) -> str:
    return f"/admin/events/{event.slug}/messages"


def open_form(client: Any, event: Any) -> dict[str, str]:
    """GET the compose page: its CSRF token and nonce, as a browser would send them back."""
    page = client.get(compose_url(event))
    assert page.status_code == 200, page.text
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]+)"', page.text)
    assert nonce, "the compose page has no nonce"
    return {"csrf_token": csrf_from(page.text), "nonce": nonce.group(1)}


def submit(client: Any, event: Any, form: dict[str, str], action: str, **fields: Any) -> Any:
    data = {"statuses": ["confirmed"], "checked_in": "", "answer": "", "subject": "News for {name}",
            "body": "Dear {name},\n\n**{event}** is at {venue}. [Your registration]({manage_url})", **form, "action": action, **fields}
    return client.post(compose_url(event), data=data)


def count(sessions: Any, model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_compose_page(organiser_client, event):
    page = organiser_client.get(compose_url(event))
    assert page.status_code == 200
    text = page.text
    assert "Write to the registrants of “Maritime Security Seminar”" in text
    # The words and the count in one span beside the box: a <small> right after the input is
    # put on a line of its own by Pico, pulled up over the checkbox.
    assert re.search(r'value="confirmed" checked>\s*<span>Confirmed <span class="count">\(2\)</span></span>', text)
    assert re.search(r'value="waitlisted">\s*<span>On the waiting list <span class="count">\(1\)</span></span>', text)
    assert re.search(r'value="pending">\s*<span>Pending approval <span class="count">\(1\)</span></span>', text)
    assert not re.search(r'name="statuses"[^>]*>\s*<small', text)
    assert "cancelled" not in re.findall(r'name="statuses"[^>]*value="([^"]+)"', text)
    assert 'value="no"' in text and "Not checked in" in text
    assert '<optgroup label="Meal"><option value="meal:veg">Vegetarian</option>' in text
    assert '<option value="topics:ports">Ports</option>' in text
    for placeholder in ("{name}", "{event}", "{starts}", "{venue}", "{manage_url}"):
        assert f"<code>{placeholder}</code>" in text
    assert ">Preview</button>" in text and ">Send a test to me</button>" in text and ">Send to 2 people</button>" in text
    assert 'name="expected" type="hidden" value="2"' in text
    # Every visit a new form, with its own nonce.
    assert open_form(organiser_client, event)["nonce"] != open_form(organiser_client, event)["nonce"]


@pytest.mark.parametrize(("statuses", "checked", "button"), [
    ([S.PENDING, S.PENDING, S.WAITLISTED, S.CANCELLED], "pending", ">Send to 2 people</button>"),
    ([S.WAITLISTED, S.CANCELLED], "waitlisted", ">Send to 1 person</button>"),
    ([S.CANCELLED], "confirmed", ">Send</button>"),
])
def test_with_nobody_confirmed_the_page_starts_with_the_status_that_has_people(
    organiser_client, make_event, make_registration, statuses, checked, button,
):
    event = make_event(capacity=None)
    for status in statuses:
        make_registration(event, status=status)
    text = organiser_client.get(compose_url(event)).text
    assert re.findall(r'name="statuses" value="([a-z]+)" checked', text) == [checked]
    assert button in text


def test_preview_lands_on_the_preview(organiser_client, event):
    text = organiser_client.get(compose_url(event)).text
    # Preview posts to the same page with #preview, so the browser scrolls to it; Send a test
    # and Send stay at the top, where their note or the error summary is.
    preview = re.search(r'<button type="submit" name="action" value="preview"[^>]*>', text).group(0)
    assert f'formaction="http://testserver{compose_url(event)}#preview"' in preview
    assert 'formaction' not in re.search(r'<button type="submit" name="action" value="test"[^>]*>', text).group(0)
    assert 'id="preview"' not in text
    shown = submit(organiser_client, event, open_form(organiser_client, event), "preview").text
    assert re.search(r'<section [^>]*id="preview"[^>]*>\s*<h2 id="preview-heading">Preview</h2>', shown)


def test_the_event_page_links_to_its_messages(organiser_client, event):
    page = organiser_client.get(f"/admin/events/{event.slug}")
    assert f'href="http://testserver/admin/events/{event.slug}/messages"' in page.text
    history = organiser_client.get(history_url(event))
    assert history.status_code == 200
    assert "No messages have been sent" in history.text
    assert f'href="http://testserver{compose_url(event)}"' in history.text and "Write a message" in history.text


def test_preview_shows_the_first_recipient_and_the_count(organiser_client, event, sessions):
    form = open_form(organiser_client, event)
    page = submit(organiser_client, event, form, "preview")
    assert page.status_code == 200, page.text
    text = page.text
    assert "This goes to 2 people." in text
    # The first recipient's name, escaped, in the subject and the body; the event filled in.
    assert "<strong>Subject:</strong> News for &lt;i&gt;Ann&lt;/i&gt; Lee" in text
    assert "Dear &lt;i&gt;Ann&lt;/i&gt; Lee," in text and "<i>Ann</i>" not in text
    assert "<strong>Maritime Security Seminar</strong> is at RSIS, Block S4, 50 Nanyang Avenue, Singapore." in text
    # The plain-text part, as the recipient's mail program shows it.
    assert "**Maritime Security Seminar**" in html.unescape(text)
    # Never her private link: the back office does not show it.
    with sessions() as session:
        ann = session.scalar(select(Registration).where(Registration.email == "ann@example.org"))
    assert ann.token not in text
    assert f'href="http://testserver/registrations/{SAMPLE_TOKEN}"' in text
    # The form is kept, with the same nonce, and nothing is sent.
    assert f'value="{form["nonce"]}"' in text and 'value="News for {name}"' in text
    assert count(sessions, EventMessage) == 0 and count(sessions, OutboxMessage) == 0


def test_preview_of_a_filtered_audience(organiser_client, event):
    form = open_form(organiser_client, event)
    page = submit(organiser_client, event, form, "preview", statuses=["confirmed", "waitlisted", "pending"], answer="meal:veg")
    assert "This goes to 3 people." in page.text and ">Send to 3 people</button>" in page.text
    assert '<option selected value="meal:veg">' in page.text
    checked = submit(organiser_client, event, form, "preview", checked_in="no")
    assert "This goes to 1 person." in checked.text and "Dear Bo Tan," in checked.text
    picks = submit(organiser_client, event, form, "preview", answer="topics:ports")
    assert "This goes to 2 people." in picks.text


def test_an_unknown_placeholder_is_refused_at_preview_by_its_name(organiser_client, event, sessions):
    form = open_form(organiser_client, event)
    page = submit(organiser_client, event, form, "preview", subject="Hello {nme}", body="Dear {name}, about {programme}.")
    assert page.status_code == 422
    assert "Unknown placeholders {nme}, {programme}." in html.unescape(page.text)
    assert 'value="Hello {nme}"' in page.text and "Dear {name}, about {programme}.</textarea>" in page.text
    assert "This goes to" not in page.text
    for action in ("test", "send"):
        assert submit(organiser_client, event, form, action, body="Dear {nam}").status_code == 422
    assert count(sessions, EventMessage) == 0 and count(sessions, OutboxMessage) == 0


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"statuses": []}, "Tick at least one"),
        ({"subject": "  "}, "Write a subject."),
        ({"body": ""}, "Write the message."),
        ({"subject": "Two\r\nlines"}, "line breaks"),
        ({"statuses": ["cancelled"]}, "Choose confirmed, on the waiting list or pending."),
        ({"statuses": ["pending"], "checked_in": "yes"}, "Nobody registered for this event matches"),
        ({"answer": "meal:fish"}, "Choose one of the answers listed."),
    ],
)
def test_what_cannot_be_sent_says_what_to_fix_and_keeps_what_was_typed(organiser_client, event, sessions, fields, words):
    form = open_form(organiser_client, event)
    page = submit(organiser_client, event, form, "send", **{"body": "Kept body {name}", **fields})
    assert page.status_code == 422
    assert words in html.unescape(page.text)
    if "body" not in fields:
        assert "Kept body {name}</textarea>" in page.text
    assert count(sessions, EventMessage) == 0 and count(sessions, Mailing) == 0 and count(sessions, OutboxMessage) == 0


def test_a_test_goes_to_the_organiser_alone(organiser_client, organiser, event, outbox, sessions):
    form = open_form(organiser_client, event)
    page = submit(organiser_client, event, form, "test")
    assert page.status_code == 200
    assert f"A test is on its way to {organiser.email}" in page.text
    (message,) = outbox()
    assert message.to_address == organiser.email
    assert message.subject == "[Test] News for <i>Ann</i> Lee"
    assert "Dear <i>Ann</i> Lee," in message.body_text and "Dear &lt;i&gt;Ann&lt;/i&gt; Lee," in message.body_html
    assert SAMPLE_TOKEN in message.body_text
    with sessions() as session:
        tokens = set(session.scalars(select(Registration.token)))
    assert not any(token in message.body_text or token in message.body_html for token in tokens)
    assert count(sessions, EventMessage) == 0 and count(sessions, Mailing) == 0


def test_send_makes_one_message_and_one_mailing_and_no_email_yet(organiser_client, organiser, event, sessions):
    form = open_form(organiser_client, event)
    response = submit(organiser_client, event, form, "send", statuses=["confirmed", "waitlisted"], expected="3")
    assert response.status_code == 303
    assert response.headers["location"] == f"http://testserver{history_url(event)}"
    with sessions() as session:
        (message,) = session.scalars(select(EventMessage))
        (mailing,) = session.scalars(select(Mailing))
        assert (message.event_id, message.organiser_id, message.recipients, message.nonce) == (event.id, organiser.id, 3, form["nonce"])
        assert message.subject == "News for {name}" and message.body.startswith("Dear {name},")
        assert message.audience["statuses"] == ["confirmed", "waitlisted"]
        assert (mailing.key, mailing.kind, mailing.event_id, mailing.message_id) == (f"message:{message.id}", MailingKind.MESSAGE, event.id, message.id)
        # The worker's fan-out finds exactly these three; the emails are its to write.
        chosen = set(session.scalars(select(Registration.email).where(*audience_conditions(event.id, message.audience))))
        assert chosen == {"ann@example.org", "bo@example.org", "cy@example.org"}
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    history = organiser_client.get(response.headers["location"])
    assert "Your message “News for {name}” is being sent to 3 people" in html.unescape(history.text)


def test_the_same_form_sent_twice_sends_once(organiser_client, event, sessions):
    form = open_form(organiser_client, event)
    first = submit(organiser_client, event, form, "send")
    again = submit(organiser_client, event, form, "send", subject="Changed meanwhile")
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert count(sessions, EventMessage) == 1 and count(sessions, Mailing) == 1
    # A new visit to the page is a new message.
    assert submit(organiser_client, event, open_form(organiser_client, event), "send").status_code == 303
    assert count(sessions, EventMessage) == 2 and count(sessions, Mailing) == 2


def test_nothing_is_sent_when_the_recipients_are_not_what_the_button_said(organiser_client, event, make_registration, sessions):
    form = open_form(organiser_client, event)  # "Send to 2 people"
    make_registration(event, name="Late Comer")
    page = submit(organiser_client, event, form, "send", expected="2")
    assert page.status_code == 422
    assert "The recipients you chose are now 3 people, not 2: nothing was sent." in page.text
    assert ">Send to 3 people</button>" in page.text
    assert count(sessions, EventMessage) == 0
    assert submit(organiser_client, event, form, "send", expected="3").status_code == 303


def test_sending_is_audited_without_addresses(organiser_client, organiser, event, sessions):
    form = open_form(organiser_client, event)
    submit(organiser_client, event, form, "send", answer="meal:veg", statuses=["confirmed", "pending"])
    with sessions() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "event.message"))
    assert (entry.event_id, entry.organiser_id) == (event.id, organiser.id)
    assert entry.after["subject"] == "News for {name}" and entry.after["recipients"] == 2
    assert entry.after["to"] == "confirmed or pending; who answered “Vegetarian” to “Meal”"
    assert "@" not in repr(entry.after) + repr(entry.before)
    trail = organiser_client.get(f"/admin/events/{event.slug}/audit")
    assert "event.message" in trail.text


def test_the_history_counts_delivered_waiting_and_failed(organiser_client, event, run, sessions):
    form = open_form(organiser_client, event)
    submit(organiser_client, event, form, "send", statuses=["confirmed", "waitlisted", "pending"])
    with sessions() as session:
        mailing = session.scalars(select(Mailing)).one()
    page = organiser_client.get(history_url(event))
    assert "0 written so far" in page.text

    def fan_out(session):  # type: ignore[no-untyped-def]
        # As the worker's fan-out would: one outbox row per recipient, then their fates.
        statuses = [MessageStatus.SENT, MessageStatus.SENT, MessageStatus.QUEUED, MessageStatus.FAILED]
        for i, status in enumerate(statuses):
            session.add(OutboxMessage(kind="message", to_address=f"r{i}@example.org", subject="s", body_text="b", status=status, mailing_id=mailing.id))
        # Another mailing's emails are not this message's.
        other = Mailing(key="announce:elsewhere", kind=MailingKind.ANNOUNCE, event_id=event.id)
        session.add(other)
        session.flush()
        session.add(OutboxMessage(kind="announcement", to_address="x@example.org", subject="s", body_text="b", status=MessageStatus.SENT, mailing_id=other.id))
        row = session.get(Mailing, mailing.id)
        row.queued, row.finished_at = 4, utcnow()

    run(fan_out)
    page = organiser_client.get(history_url(event))
    assert page.status_code == 200
    (row,) = re.findall(r"<tbody>(.*?)</tbody>", page.text, re.DOTALL)
    cells = [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.DOTALL)]
    subject, sent, to, recipients, delivered, waiting, failed = cells
    assert " ".join(subject) == "News for {name}"
    assert "by Olga Organiser" in " ".join(sent)
    assert " ".join(to) == "confirmed, waiting list or pending"
    assert (recipients, delivered, waiting, failed[:1]) == (["4"], ["2"], ["1"], ["1"])
    assert "written so far" not in page.text and "See the outbox" in page.text
    # On a phone each row is a card, each count labelled, rather than a table scrolled sideways.
    assert '<table class="striped cards-on-phone">' in page.text
    for label in ("Sent", "To", "Recipients", "Delivered", "Waiting", "Held or failed"):
        assert f'<td data-label="{label}">' in row


def test_signed_out_nobody_reads_or_sends(client, event, sessions):
    for path in (history_url(event), compose_url(event)):
        response = client.get(path)
        assert response.status_code == 303 and "/admin/sign-in" in response.headers["location"]
    page = client.get("/admin/sign-in")
    response = client.post(compose_url(event), data={"csrf_token": csrf_from(page.text), "statuses": "confirmed", "subject": "s", "body": "b", "nonce": "x" * 32, "action": "send"})
    # The sign-in page, keeping the message to send only if the organiser asks after signing in.
    assert response.status_code == 401 and 'action="http://testserver/admin/sign-in"' in response.text
    assert count(sessions, EventMessage) == 0


def test_an_event_that_does_not_exist_is_not_found(organiser_client):
    assert organiser_client.get("/admin/events/no-such-event/messages").status_code == 404
    assert organiser_client.get("/admin/events/no-such-event/messages/new").status_code == 404


def test_csrf_is_required(organiser_client, event, sessions):
    form = open_form(organiser_client, event)
    for token in (None, "forged"):
        data = {**form, "csrf_token": token} if token else {"nonce": form["nonce"]}
        response = organiser_client.post(compose_url(event), data={**data, "statuses": "confirmed", "subject": "s", "body": "b", "action": "send"})
        assert response.status_code == 403
    assert count(sessions, EventMessage) == 0 and count(sessions, OutboxMessage) == 0


def test_a_damaged_form_is_a_bad_request(organiser_client, event, sessions):
    form = open_form(organiser_client, event)
    assert submit(organiser_client, event, {**form, "nonce": "<script>"}, "send").status_code == 400
    assert submit(organiser_client, event, form, "delete").status_code == 400
    assert submit(organiser_client, event, form, "send", expected="-1").status_code == 400
    assert count(sessions, EventMessage) == 0

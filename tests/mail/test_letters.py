"""Letters organisers write: placeholders filled in per recipient, escaped in the HTML part
and as typed in the text part, subjects that stay one header line; and who a message to
part of a roster goes to (letters.audience_conditions), on either engine."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from portal.db import utcnow
from portal.errors import InvalidInput
from portal.mail.letters import Letter, audience_conditions, check_placeholders, validate_audience
from portal.models import Registration, RegistrationStatus
from portal.rosters import messages

S = RegistrationStatus


def test_an_unknown_placeholder_is_refused_by_its_name():
    check_placeholders("{event}: news", "Dear {name}, see {manage_url}. {starts} at {venue}.")
    with pytest.raises(InvalidInput) as refused:
        check_placeholders("News for {nme}", "Dear {name}, at {place} and {place}.")
    assert "{nme}" in refused.value.message and "{place}" in refused.value.message
    assert refused.value.message.count("{place}") == 1
    assert "{name}" in refused.value.message  # the known ones are listed, to choose from


def test_a_name_is_escaped_in_the_html_part_and_kept_as_typed_in_the_text(site, make_event, make_registration):
    event = make_event(title="Trade & <Security>")
    person = make_registration(event, name='<b>Ann</b> & "Bo"')
    subject, text, html = Letter.prepare("Hello {name}", "Dear {name},\n\n**{event}** starts {starts}.").render(site, event, person)
    assert 'Dear <b>Ann</b> & "Bo",' in text
    assert "**Trade & <Security>**" in text
    assert "<b>Ann</b>" not in html and "&lt;b&gt;Ann&lt;/b&gt; &amp; " in html
    assert "<strong>Trade &amp; &lt;Security&gt;</strong>" in html
    assert subject == 'Hello <b>Ann</b> & "Bo"'


def test_markup_typed_in_the_body_is_sanitised(site, make_event, make_registration):
    event = make_event()
    person = make_registration(event)
    _, _, html = Letter.prepare("Hi", "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>").render(site, event, person)
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html  # shown as typed, never run


def test_the_manage_link_works_inside_a_markdown_link(site, make_event, make_registration):
    event = make_event()
    person = make_registration(event)
    link = site.manage_url(person.token)
    _, text, html = Letter.prepare("Hi", "[Your registration]({manage_url}) or <{manage_url}>").render(site, event, person)
    assert f"[Your registration]({link})" in text
    assert f'<a href="{link}" rel="noopener noreferrer nofollow">Your registration</a>' in html
    assert "%7B" not in html


@pytest.mark.parametrize("name", ["Ann\r\nBcc: victim@example.org", "Ann\nSubject: fake", "Ann\rX-Injected: 1"])
def test_a_line_break_in_a_name_cannot_start_a_header(site, make_event, make_registration, organiser, run, smtp_server, deliver, name):
    event = make_event()
    make_registration(event, name=name, email="ann@example.org")
    # Through the whole path: the service's test email, the outbox, the worker, a real SMTP server.
    run(messages.send_test, site, organiser, event.slug, "For {name}", "Dear {name}", {"statuses": ["confirmed"]})
    assert deliver(smtp_server) == (1, 0)
    (arrival,) = smtp_server.arrivals
    assert arrival.rcpt_tos == [organiser.email]
    assert "\n" not in arrival.subject and "\r" not in arrival.subject
    assert arrival.subject == "[Test] For " + " ".join(name.split())
    for header in ("Bcc", "X-Injected"):
        assert arrival.message[header] is None
    assert len(arrival.message.get_all("Subject")) == 1


# --- who a message goes to -------------------------------------------------------------------


@pytest.fixture
def roster(make_event, make_registration):  # type: ignore[no-untyped-def]
    """An event with registrants of every status, some checked in, with answers to a choice,
    a multiple-choice and a yes/no question; and a registrant of another event."""
    event = make_event(capacity=None)
    other = make_event()
    now = utcnow()
    people: dict[str, Registration] = {}

    def add(key: str, status: S = S.CONFIRMED, **values: Any) -> None:
        people[key] = make_registration(event, status=status, name=key, **values)

    add("veg_in", answers={"meal": "veg", "topics": ["trade", "law"], "hotel": "yes"}, checked_in_at=now)
    add("vegan", answers={"meal": "vegan", "topics": ["vegetation"], "hotel": "no"})
    add("fish", answers={"meal": "fish", "topics": ["law"]}, checked_in_at=now)
    add("nothing", answers={})
    add("number", answers={"meal": 1, "topics": "trade"})
    add("waiting", S.WAITLISTED, answers={"meal": "veg", "topics": ["trade"]})
    add("pending", S.PENDING, answers={"meal": "veg"})
    add("cancelled", S.CANCELLED, answers={"meal": "veg", "topics": ["trade"]}, checked_in_at=now)
    add("rejected", S.REJECTED, answers={"meal": "veg"})
    make_registration(other, name="elsewhere", answers={"meal": "veg", "topics": ["trade"]})
    return event, people


def picked(sessions, event, **audience: Any) -> set[str]:  # type: ignore[no-untyped-def]
    audience = {"statuses": ["confirmed"], **audience}
    with sessions() as session:
        query = select(Registration.name).where(*audience_conditions(event.id, audience))
        return set(session.scalars(query))


def test_by_status_never_the_cancelled_or_rejected(sessions, roster):
    event, _ = roster
    assert picked(sessions, event) == {"veg_in", "vegan", "fish", "nothing", "number"}
    assert picked(sessions, event, statuses=["waitlisted", "pending"]) == {"waiting", "pending"}
    everyone = picked(sessions, event, statuses=["confirmed", "waitlisted", "pending"])
    assert everyone == {"veg_in", "vegan", "fish", "nothing", "number", "waiting", "pending"}


def test_by_check_in(sessions, roster):
    event, _ = roster
    assert picked(sessions, event, checked_in=True) == {"veg_in", "fish"}
    assert picked(sessions, event, checked_in=False) == {"vegan", "nothing", "number"}
    assert picked(sessions, event, checked_in=None) == {"veg_in", "vegan", "fish", "nothing", "number"}


def test_by_the_answer_to_a_single_choice(sessions, roster):
    event, _ = roster
    # "veg" is not "vegan": the whole answer, not a part of it.
    assert picked(sessions, event, question="meal", answer="veg") == {"veg_in"}
    assert picked(sessions, event, statuses=["confirmed", "waitlisted", "pending"], question="meal", answer="veg") == {"veg_in", "waiting", "pending"}
    assert picked(sessions, event, question="meal", answer="fish", checked_in=True) == {"fish"}
    assert picked(sessions, event, question="hotel", answer="yes") == {"veg_in"}
    assert picked(sessions, event, question="meal", answer="1") == set()  # a number is not the text "1"
    assert picked(sessions, event, question="nope", answer="veg") == set()


def test_by_one_of_the_picks_of_a_multiple_choice(sessions, roster):
    event, _ = roster
    assert picked(sessions, event, question="topics", answer="law") == {"veg_in", "fish"}
    # A list holding the value, or (an answer kept before the question allowed several) the value itself.
    assert picked(sessions, event, question="topics", answer="trade") == {"veg_in", "number"}
    assert picked(sessions, event, question="topics", answer="veg") == set()  # not a part of "vegetation"
    assert picked(sessions, event, statuses=["waitlisted"], question="topics", answer="trade") == {"waiting"}


def test_a_value_that_looks_like_sql_or_a_json_path_is_only_a_value(sessions, roster, make_registration):
    event, _ = roster
    make_registration(event, name="odd", answers={"meal": "x' OR '1'='1", "topics": ['"] $.meal']})
    assert picked(sessions, event, question="meal", answer="x' OR '1'='1") == {"odd"}
    assert picked(sessions, event, question="topics", answer='"] $.meal') == {"odd"}
    assert picked(sessions, event, question="meal", answer="' OR 1=1 --") == set()


def test_last_id_leaves_out_those_who_registered_after(sessions, roster, make_registration):
    event, _ = roster
    late = make_registration(event, name="late")
    assert "late" in picked(sessions, event)
    assert "late" not in picked(sessions, event, last_id=late.id - 1)


@pytest.mark.parametrize(
    ("audience", "words"),
    [
        ({"statuses": []}, "at least one status"),
        ({}, "at least one status"),
        ({"statuses": ["cancelled"]}, "never go to cancelled"),
        ({"statuses": ["confirmed", "rejected"]}, "never go to rejected"),
        ({"statuses": ["everyone"]}, "Unknown status 'everyone'"),
        ({"statuses": "confirmed"}, "by status"),
        ({"statuses": ["confirmed"], "checked_in": "yes"}, "checked in"),
        ({"statuses": ["confirmed"], "checked_in": 1}, "checked in"),
        ({"statuses": ["confirmed"], "answer": "veg"}, "question that answer belongs to"),
        ({"statuses": ["confirmed"], "question": "meal"}, "Choose the answer"),
        ({"statuses": ["confirmed"], "question": "$.meal", "answer": "veg"}, "not a question"),
        ({"statuses": ["confirmed"], "question": "meal", "answer": "v" * 101}, "Choose the answer"),
        ({"statuses": ["confirmed"], "everyone": True}, "Unknown audience setting everyone"),
        ({"statuses": ["confirmed"], "last_id": "7"}, "not a registration id"),
        ([], "Choose who receives"),
    ],
)
def test_an_audience_that_cannot_be_sent_to_is_refused_saying_why(audience, words):
    with pytest.raises(InvalidInput) as refused:
        validate_audience(audience)
    assert words in refused.value.message
    with pytest.raises(InvalidInput):
        audience_conditions(1, audience)


def test_an_audience_is_kept_in_one_shape():
    assert validate_audience({"statuses": ["pending", "confirmed", "pending"]}) == {
        "statuses": ["confirmed", "pending"], "checked_in": None, "question": None, "answer": None,
    }
    assert validate_audience({"statuses": ["waitlisted"], "checked_in": False, "question": "meal", "answer": "veg", "last_id": 9}) == {
        "statuses": ["waitlisted"], "checked_in": False, "question": "meal", "answer": "veg", "last_id": 9,
    }


def test_only_the_manage_link_can_be_a_link_s_address():
    for body in ("[x]({name})", "Go <{venue}>", "[x]( {event})"):
        with pytest.raises(InvalidInput, match="cannot be a link's address"):
            check_placeholders("Hello", body)
    check_placeholders("Hello", "[Your registration]({manage_url}) and <{manage_url}>, {name}")


def test_a_name_that_is_a_script_link_never_becomes_one(site):
    now = utcnow()
    event = SimpleNamespace(title="T", venue="V", address="", online_url=None, starts_at=now, ends_at=now, timezone="UTC", all_day=False, slug="t")
    person = SimpleNamespace(name="javascript:alert(1)", token="tok")
    # Written straight into the letter (not through check_placeholders): the HTML still has no such link.
    _, _, html = Letter.prepare("Hi", "[x](https://example.org/{name}) [y]({manage_url})").render(site, event, person)
    assert 'href="javascript' not in html
    assert f'href="{site.manage_url("tok")}"' in html

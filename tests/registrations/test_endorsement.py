"""A nomination that the nominating officer endorses or declines through a private link: the
request email, the page, answering once, the link's end, the audit log and the participant's
email."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.db import run_unit_of_work, utcnow
from portal.errors import InvalidTransition, NotFound
from portal.models import Admission, AuditEntry, Endorsement, EventStatus, Registration, RegistrationStatus
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from portal.registrations import endorsement, participants
from portal.registrations.actions import RosterAction, act_on_registration
from portal.registrations.endorsement import LinkExpired, endorsement_label
from portal.registrations.participants import Submission
from tests.conftest import BASE_URL, csrf_from
from tests.registrations.test_race import _race

S = RegistrationStatus
NOMINATION = [
    {"key": "nominating_authority", "type": "text", "label": "Nominating authority", "required": True},
    {"key": "nominator_email", "type": "email", "label": "Nominating officer's email", "nominator": True},
]
LINK = re.compile(re.escape(BASE_URL) + r"/endorse/([A-Za-z0-9_\-]{40,})")


@pytest.fixture
def nominated_event(make_programme, make_event, run):  # type: ignore[no-untyped-def]
    """nominated_event(**overrides): an event of a nomination programme whose form asks for
    the nominating authority and officer."""

    def _make(**overrides):  # type: ignore[no-untyped-def]
        programme = make_programme(name="Asia-Pacific Programme for Senior Military Officers", admission=Admission.NOMINATION)
        event = make_event(programme_id=programme.id, title="APPSMO 2027", **overrides)
        run(save_form, None, Owner(event_id=event.id), parse_form(NOMINATION))
        return event

    return _make


@pytest.fixture
def nominate(run, site):  # type: ignore[no-untyped-def]
    """nominate(event, officer=..., authority=..., **submission) -> the registration row."""

    def _nominate(event, officer="Officer@Mindef.example", authority="Ministry of Defence", name="Maj. Ann Lee", email="ann@example.org"):  # type: ignore[no-untyped-def]
        answers = {"nominating_authority": authority, **({"nominator_email": officer} if officer is not None else {})}
        outcome = run(participants.register, site, event.slug, Submission(name=name, email=email, organisation="Army", answers=answers))
        return run(lambda session: session.get_one(Registration, outcome.registration_id))

    return _nominate


def reload(run, registration):  # type: ignore[no-untyped-def]
    return run(lambda session: session.get_one(Registration, registration.id))


def entries(run, registration):  # type: ignore[no-untyped-def]
    return run(lambda session: list(session.scalars(
        select(AuditEntry).where(AuditEntry.registration_id == registration.id).order_by(AuditEntry.id)
    )))


# --- asking ----------------------------------------------------------------------------------


def test_registering_asks_the_officer_through_the_outbox(nominated_event, nominate, outbox):
    event = nominated_event()
    registration = nominate(event)

    assert registration.status == S.PENDING
    assert registration.endorsement == Endorsement.AWAITING and registration.endorsement_at is None
    assert re.fullmatch(r"[A-Za-z0-9_\-]{43}", registration.endorsement_token)
    assert registration.endorsement_token != registration.token
    [request] = [m for m in outbox() if m.kind == "endorsement_request"]
    assert request.to_address == "officer@mindef.example"
    assert request.registration_id == registration.id and request.event_id == event.id
    for part in (request.body_text, request.body_html):
        assert set(LINK.findall(part)) == {registration.endorsement_token}
        assert "Maj. Ann Lee" in part and "APPSMO 2027" in part and "Ministry of Defence" in part
        assert "Asia-Pacific Programme for Senior Military Officers" in part
        # The officer never gets the participant's own link, which could change or cancel it.
        assert registration.token not in part
    assert "Maj. Ann Lee" in request.subject
    # The participant is told of their application as before.
    assert [m.kind for m in outbox() if m.to_address == "ann@example.org"] == ["received"]


def test_hostile_answers_are_escaped_in_the_request(nominated_event, nominate, outbox):
    event = nominated_event()
    nominate(event, name="<script>alert(1)</script>", authority='Ministry "of" <b>Defence</b>')
    [request] = [m for m in outbox() if m.kind == "endorsement_request"]
    assert "<script>" not in request.body_html and "&lt;script&gt;alert(1)&lt;/script&gt;" in request.body_html
    assert "<b>Defence</b>" not in request.body_html and "&lt;b&gt;Defence&lt;/b&gt;" in request.body_html
    assert "\n" not in request.subject


def test_nobody_is_asked_without_an_officers_address(nominated_event, nominate, make_event, run, site, outbox):
    event = nominated_event()
    left_blank = nominate(event, officer="  ")
    assert (left_blank.endorsement, left_blank.endorsement_token) == (None, None)
    # A form without a nominator question asks nobody, whatever the answers hold.
    plain = make_event()
    run(participants.register, site, plain.slug, Submission(name="Bo", email="bo@example.org", answers={"nominator_email": "x@example.org"}))
    assert not [m for m in outbox() if m.kind == "endorsement_request"]


def test_a_repeated_registration_asks_nobody_again(nominated_event, nominate, outbox):
    event = nominated_event()
    nominate(event)
    nominate(event)
    assert [m.kind for m in outbox()].count("endorsement_request") == 1


# --- answering -------------------------------------------------------------------------------


def test_endorsing_records_logs_and_tells_the_participant(nominated_event, nominate, run, site, outbox):
    event = nominated_event()
    registration = nominate(event)
    before = utcnow()

    assert run(endorsement.answer, site, registration.endorsement_token, True) is True

    done = reload(run, registration)
    assert done.endorsement == Endorsement.ENDORSED and done.endorsement_at >= before
    assert done.status == S.PENDING  # the organisers still decide
    [entry] = entries(run, registration)
    assert (entry.action, entry.actor, entry.organiser_id, entry.event_id) == ("registration.endorse", "portal", None, event.id)
    assert entry.before == {"endorsement": "awaiting"}
    assert entry.after == {"endorsement": "endorsed", "through": "the nominating officer's private link"}
    [told] = [m for m in outbox() if m.kind == "nomination_endorsed"]
    assert told.to_address == "ann@example.org" and "Ministry of Defence" in told.body_text
    assert registration.token in told.body_text  # their own manage link, as in every email to them


def test_declining_tells_the_participant(nominated_event, nominate, run, site, outbox):
    registration = nominate(nominated_event())
    assert run(endorsement.answer, site, registration.endorsement_token, False) is True
    assert reload(run, registration).endorsement == Endorsement.DECLINED
    [told] = [m for m in outbox() if m.kind == "nomination_declined"]
    assert told.to_address == "ann@example.org" and "declined to endorse" in told.body_text
    assert entries(run, registration)[0].after["endorsement"] == "declined"


def test_answering_twice_changes_nothing(nominated_event, nominate, run, site, outbox):
    registration = nominate(nominated_event())
    run(endorsement.answer, site, registration.endorsement_token, True)
    first = reload(run, registration)
    sent = len(outbox())

    assert run(endorsement.answer, site, registration.endorsement_token, True) is False
    assert run(endorsement.answer, site, registration.endorsement_token, False) is False

    again = reload(run, registration)
    assert (again.endorsement, again.endorsement_at) == (Endorsement.ENDORSED, first.endorsement_at)
    assert len(entries(run, registration)) == 1 and len(outbox()) == sent


def test_the_link_ends_with_the_event(nominated_event, nominate, run, site):
    event = nominated_event()
    registration = nominate(event)
    after_the_end = event.ends_at + timedelta(seconds=1)
    with pytest.raises(LinkExpired, match="expired when APPSMO 2027 ended") as expired:
        run(endorsement.view_endorsement, registration.endorsement_token, now=after_the_end)
    assert expired.value.status_code == 410
    with pytest.raises(LinkExpired):
        run(endorsement.answer, site, registration.endorsement_token, True, now=after_the_end)
    assert reload(run, registration).endorsement == Endorsement.AWAITING
    # Until then it works.
    assert run(endorsement.answer, site, registration.endorsement_token, True, now=event.ends_at - timedelta(seconds=1))


def test_the_link_ends_when_the_event_is_cancelled(nominated_event, nominate, run, site):
    event = nominated_event()
    registration = nominate(event)

    def cancel_event(session):  # type: ignore[no-untyped-def]
        session.get_one(type(event), event.id).status = EventStatus.CANCELLED

    run(cancel_event)
    with pytest.raises(LinkExpired, match="cancelled"):
        run(endorsement.answer, site, registration.endorsement_token, True)


@pytest.mark.parametrize("token", ["", "nope", "x" * 43, "A" * 65, "abc\x00def"])
def test_an_unknown_link_opens_nothing(token, nominated_event, nominate, run):
    nominate(nominated_event())
    with pytest.raises(NotFound, match="not valid"):
        run(endorsement.view_endorsement, token)


def test_the_participants_own_link_does_not_endorse(nominated_event, nominate, run, site):
    registration = nominate(nominated_event())
    with pytest.raises(NotFound):
        run(endorsement.answer, site, registration.token, True)
    with pytest.raises(NotFound):
        run(endorsement.answer, site, registration.endorsement_token[:-1], True)


def test_a_cancelled_registration_cannot_be_endorsed(nominated_event, nominate, run, site):
    registration = nominate(nominated_event())
    run(participants.cancel, site, registration.token)
    view = run(endorsement.view_endorsement, registration.endorsement_token)
    assert not view.can_answer and "cancelled" in view.problem
    with pytest.raises(InvalidTransition, match="cancelled"):
        run(endorsement.answer, site, registration.endorsement_token, True)
    assert reload(run, registration).endorsement == Endorsement.AWAITING


def test_organisers_decide_whatever_the_endorsement(nominated_event, nominate, run, site):
    event = nominated_event()
    awaiting, declined = nominate(event), nominate(event, email="bo@example.org")
    run(endorsement.answer, site, declined.endorsement_token, False)
    run(act_on_registration, site, None, awaiting.id, RosterAction.APPROVE)
    run(act_on_registration, site, None, declined.id, RosterAction.APPROVE)
    assert reload(run, awaiting).status == S.CONFIRMED and reload(run, declined).status == S.CONFIRMED
    assert reload(run, awaiting).endorsement == Endorsement.AWAITING


def test_the_officers_address_cannot_be_changed_once_asked(nominated_event, nominate, run):
    registration = nominate(nominated_event())
    run(participants.update_details, registration.token, Submission(
        "Maj. Ann Lee", "ann@example.org", answers={"nominating_authority": "Navy", "nominator_email": "friend@example.org"},
    ))
    changed = reload(run, registration)
    assert changed.answers == {"nominating_authority": "Navy", "nominator_email": "Officer@Mindef.example"}


def test_endorsement_label(nominated_event, nominate, run, site):
    event = nominated_event(timezone="Asia/Singapore")
    registration = nominate(event)
    assert endorsement_label(registration) == "Awaiting endorsement"
    at = event.starts_at - timedelta(days=3)
    run(endorsement.answer, site, registration.endorsement_token, True, now=at)
    done = reload(run, registration)
    assert endorsement_label(done) == "Endorsed"
    assert endorsement_label(done, "Asia/Singapore") == f"Endorsed {at.astimezone(ZoneInfo('Asia/Singapore')).strftime('%-d %b %Y')}"
    assert endorsement_label(reload(run, nominate(event, officer=None, email="bo@example.org"))) == ""


# --- the page ---------------------------------------------------------------------------------


def test_the_officer_endorses_on_the_page(client, nominated_event, nominate, run, outbox):
    registration = nominate(nominated_event(), name="Maj. <Ann> Lee")
    url = f"/endorse/{registration.endorsement_token}"

    page = client.get(url)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store" and "noindex" in page.headers["x-robots-tag"]
    assert "Maj. &lt;Ann&gt; Lee" in page.text and "Maj. <Ann>" not in page.text
    assert "Ministry of Defence" in page.text and "APPSMO 2027" in page.text
    assert 'value="endorse"' in page.text and 'value="decline"' in page.text
    assert registration.token not in page.text

    # Without the CSRF field, nothing is recorded.
    refused = client.post(url, data={"decision": "endorse"})
    assert refused.status_code == 403
    assert reload(run, registration).endorsement == Endorsement.AWAITING

    done = client.post(url, data={"decision": "endorse", "csrf_token": csrf_from(page.text)})
    assert done.status_code == 303 and done.headers["location"].endswith(url + "?done=1")
    thanks = client.get(done.headers["location"])
    assert "Thank you." in thanks.text and "You endorsed this nomination on" in thanks.text
    assert 'value="endorse"' not in thanks.text

    # A second answer records nothing; the page says what was answered, and when.
    again = client.post(url, data={"decision": "decline", "csrf_token": csrf_from(page.text)})
    assert again.status_code == 303 and again.headers["location"].endswith(url)
    shown = client.get(url).text
    answered = reload(run, registration).endorsement_at.astimezone(ZoneInfo("Asia/Singapore"))
    assert "already endorsed on" in shown and answered.strftime("%-d %b %Y") in shown
    assert reload(run, registration).endorsement == Endorsement.ENDORSED
    assert [m.kind for m in outbox()].count("nomination_endorsed") == 1


def test_the_page_refuses_an_unknown_answer(client, nominated_event, nominate, run):
    registration = nominate(nominated_event())
    url = f"/endorse/{registration.endorsement_token}"
    page = client.get(url)
    response = client.post(url, data={"decision": "maybe", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 400 and "Choose Endorse or Decline." in response.text
    assert reload(run, registration).endorsement == Endorsement.AWAITING


def test_an_unknown_or_ended_link_says_so(client, nominated_event, nominate, make_event, run):
    missing = client.get("/endorse/" + "x" * 43)
    assert missing.status_code == 404 and "This endorsement link is not valid" in missing.text

    event = nominated_event(starts_at=utcnow() - timedelta(days=2), ends_at=utcnow() - timedelta(days=1))
    registration = run(lambda session: _placed(session, event))
    ended = client.get(f"/endorse/{registration.endorsement_token}")
    assert ended.status_code == 410 and "expired when APPSMO 2027 ended" in ended.text


def _placed(session, event):  # type: ignore[no-untyped-def]
    """A nomination awaiting its endorsement at an event that has ended (registration for it
    is closed, so it is placed directly)."""
    registration = Registration(
        event_id=event.id, email="late@example.org", name="Late", answers={}, status=S.PENDING,
        token=participants.new_token(), endorsement=Endorsement.AWAITING, endorsement_token=participants.new_token(),
    )
    session.add(registration)
    session.flush()
    return registration


def test_a_cancelled_registration_shows_why_on_the_page(client, nominated_event, nominate, run, site):
    registration = nominate(nominated_event())
    url = f"/endorse/{registration.endorsement_token}"
    # The officer opened the page before the participant cancelled, and answers after.
    csrf = csrf_from(client.get(url).text)
    run(participants.cancel, site, registration.token)
    page = client.get(url)
    assert page.status_code == 200 and "has cancelled this registration" in page.text and 'value="endorse"' not in page.text
    response = client.post(url, data={"decision": "endorse", "csrf_token": csrf})
    assert response.status_code == 409 and "has cancelled this registration" in response.text


def test_racing_answers_record_one(database_url, nominated_event, nominate, run, site, outbox):
    """A double click, or the officer's two devices: one answer is recorded, once."""
    registration = nominate(nominated_event())

    def call(factory, i):  # type: ignore[no-untyped-def]
        return run_unit_of_work(factory, endorsement.answer, site, registration.endorsement_token, i % 2 == 0, write=True)

    results, errors = _race(database_url, 8, call)

    assert errors == [] and sorted(results) == [False] * 7 + [True]
    assert len(entries(run, registration)) == 1
    assert len([m for m in outbox() if m.kind in ("nomination_endorsed", "nomination_declined")]) == 1

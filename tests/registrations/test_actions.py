"""Organisers' actions on registrations, and their effect on seats, email and the audit log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.catalogue import editing
from portal.db import utcnow
from portal.errors import InvalidTransition
from portal.models import Admission, AuditEntry, Event, Registration
from portal.models import RegistrationStatus as S
from portal.registrations import participants
from portal.registrations.actions import RosterAction as A
from portal.registrations.actions import act_on_registration, act_on_registrations
from portal.registrations.participants import Submission
from portal.registrations.seats import seats_after_cancelling
from tests.web.backoffice.conftest import post

T0 = utcnow().replace(microsecond=0) - timedelta(days=3)


@pytest.fixture
def actor(make_organiser):  # type: ignore[no-untyped-def]
    return make_organiser("ruth@example.org", name="Ruth Roster")


@pytest.fixture
def application_event(make_programme, make_event):  # type: ignore[no-untyped-def]
    def _make(**overrides):  # type: ignore[no-untyped-def]
        programme = make_programme(admission=Admission.APPLICATION)
        return make_event(programme_id=programme.id, **overrides)
    return _make


def statuses(sessions, *registrations):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return [session.get_one(Registration, r.id).status for r in registrations]


def trail(sessions, registration):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.registration_id == registration.id).order_by(AuditEntry.id)))


def mail(outbox, registration):  # type: ignore[no-untyped-def]
    return [m.kind for m in outbox() if m.registration_id == registration.id]


def test_approve_gives_seats_first_come_then_the_waiting_list(run, site, actor, application_event, make_registration, sessions, outbox):
    event = application_event(capacity=2)
    people = [make_registration(event, status=S.PENDING, created_at=T0 + timedelta(minutes=i)) for i in range(3)]
    # Selected in any order, decided in the order they applied.
    report = run(act_on_registrations, site, actor, event.slug, A.APPROVE, [p.id for p in reversed(people)])
    assert statuses(sessions, *people) == [S.CONFIRMED, S.CONFIRMED, S.WAITLISTED]
    assert [r.after for r in report.changed] == [S.CONFIRMED, S.CONFIRMED, S.WAITLISTED]
    assert [mail(outbox, p) for p in people] == [["approved"], ["approved"], ["approved"]]
    waiting_mail = [m for m in outbox() if m.registration_id == people[2].id][0]
    assert "waiting list at position 1" in waiting_mail.body_text


def test_approve_when_full_puts_on_the_waiting_list(run, site, actor, application_event, make_registration, sessions):
    event = application_event(capacity=1)
    make_registration(event, status=S.CONFIRMED)
    pending = make_registration(event, status=S.PENDING)
    run(act_on_registration, site, actor, pending.id, A.APPROVE)
    assert statuses(sessions, pending) == [S.WAITLISTED]


def test_capacity_is_never_exceeded_by_a_bulk_approval(run, site, actor, application_event, make_registration, sessions):
    event = application_event(capacity=3)
    people = [make_registration(event, status=S.PENDING) for _ in range(10)]
    run(act_on_registrations, site, actor, event.slug, A.APPROVE, [p.id for p in people])
    found = statuses(sessions, *people)
    assert found.count(S.CONFIRMED) == 3 and found.count(S.WAITLISTED) == 7


def test_cancelling_a_confirmed_seat_promotes_the_first_waiting(run, site, actor, make_event, make_registration, sessions, outbox):
    event = make_event(capacity=1)
    seated = make_registration(event, status=S.CONFIRMED)
    later = make_registration(event, status=S.WAITLISTED, waitlisted_at=T0 + timedelta(minutes=5))
    first = make_registration(event, status=S.WAITLISTED, waitlisted_at=T0)
    report = run(act_on_registration, site, actor, seated.id, A.CANCEL)
    assert statuses(sessions, seated, first, later) == [S.CANCELLED, S.CONFIRMED, S.WAITLISTED]
    assert report.promoted == [(first.id, first.name)]
    assert mail(outbox, seated) == ["cancelled"] and mail(outbox, first) == ["promoted"] and mail(outbox, later) == []
    [promotion] = trail(sessions, first)
    assert promotion.organiser_id == actor.id and promotion.action == "registration.promote"
    assert promotion.before == {"status": "waitlisted"}
    assert promotion.after == {"status": "confirmed", "reason": "a seat became free"}


def test_raising_the_capacity_promotes_in_order(run, site, actor, make_event, make_registration, sessions, outbox):
    event = make_event(capacity=1)
    make_registration(event, status=S.CONFIRMED)
    waiting = [make_registration(event, status=S.WAITLISTED, waitlisted_at=T0 + timedelta(minutes=m)) for m in (3, 1, 2)]
    values = editing.EventValues(
        title=event.title, starts_at=event.starts_at, ends_at=event.ends_at, timezone=event.timezone,
        venue=event.venue, address=event.address, capacity=3, waitlist=True,
    )
    report = run(editing.update_event, site, actor, event.slug, values)
    assert report.promoted == 2
    # Queue order is waitlisted_at: the ones who waited since minute 1 and 2 get the seats.
    assert statuses(sessions, *waiting) == [S.WAITLISTED, S.CONFIRMED, S.CONFIRMED]
    assert sorted(mail(outbox, w)[0] for w in waiting[1:]) == ["promoted", "promoted"]
    with sessions() as session:
        assert session.scalar(select(Event.capacity).where(Event.id == event.id)) == 3


def test_unlimited_capacity_promotes_everyone(run, site, actor, make_event, make_registration, sessions):
    event = make_event(capacity=0)
    waiting = [make_registration(event, status=S.WAITLISTED) for _ in range(3)]
    values = editing.EventValues(title=event.title, starts_at=event.starts_at, ends_at=event.ends_at, venue=event.venue, address=event.address, capacity=None)
    run(editing.update_event, site, actor, event.slug, values)
    assert statuses(sessions, *waiting) == [S.CONFIRMED] * 3


def test_reject(run, site, actor, application_event, make_registration, sessions, outbox):
    event = application_event(capacity=1)
    pending = make_registration(event, status=S.PENDING)
    seated = make_registration(event, status=S.CONFIRMED)
    waiting = make_registration(event, status=S.WAITLISTED)
    run(act_on_registration, site, actor, pending.id, A.REJECT)
    assert statuses(sessions, pending) == [S.REJECTED]
    assert mail(outbox, pending) == ["rejected"]
    # Rejecting someone who held a seat frees it for the waiting list.
    report = run(act_on_registration, site, actor, seated.id, A.REJECT)
    assert statuses(sessions, seated, waiting) == [S.REJECTED, S.CONFIRMED]
    assert report.promoted == [(waiting.id, waiting.name)]
    again = run(act_on_registration, site, actor, pending.id, A.REJECT)
    assert again.changed == [] and "rejected already" in again.skipped[0].problem


def test_a_rejected_application_can_be_approved_after_all(run, site, actor, application_event, make_registration, sessions):
    event = application_event(capacity=5)
    rejected = make_registration(event, status=S.REJECTED)
    run(act_on_registration, site, actor, rejected.id, A.APPROVE)
    assert statuses(sessions, rejected) == [S.CONFIRMED]


def test_move_to_the_waiting_list(run, site, actor, make_event, make_registration, sessions, outbox):
    event = make_event(capacity=1)
    seated = make_registration(event, status=S.CONFIRMED)
    alone = run(act_on_registration, site, actor, seated.id, A.WAITLIST)
    assert alone.changed == [] and "nobody else is waiting" in alone.skipped[0].problem
    waiting = make_registration(event, status=S.WAITLISTED, waitlisted_at=T0)
    report = run(act_on_registration, site, actor, seated.id, A.WAITLIST)
    assert statuses(sessions, seated, waiting) == [S.WAITLISTED, S.CONFIRMED]
    assert report.promoted == [(waiting.id, waiting.name)]
    assert mail(outbox, seated) == ["waitlisted"]


def test_promote_only_into_a_free_seat(run, site, actor, make_event, make_registration, sessions):
    event = make_event(capacity=1)
    seated = make_registration(event, status=S.CONFIRMED)
    waiting = make_registration(event, status=S.WAITLISTED)
    refused = run(act_on_registration, site, actor, waiting.id, A.PROMOTE)
    assert "none is free" in refused.skipped[0].problem
    with sessions.begin() as session:
        session.get_one(Registration, seated.id).status = S.CANCELLED
    done = run(act_on_registration, site, actor, waiting.id, A.PROMOTE)
    assert [r.after for r in done.changed] == [S.CONFIRMED]


def test_check_in_and_undo(run, site, actor, make_event, make_registration, sessions, outbox):
    event = make_event()
    person = make_registration(event, status=S.CONFIRMED)
    waiting = make_registration(event, status=S.WAITLISTED)
    run(act_on_registration, site, actor, person.id, A.CHECK_IN)
    with sessions() as session:
        assert session.get_one(Registration, person.id).checked_in_at is not None
    twice = run(act_on_registration, site, actor, person.id, A.CHECK_IN)
    assert "is already checked in" in twice.skipped[0].problem
    not_seated = run(act_on_registration, site, actor, waiting.id, A.CHECK_IN)
    assert "cannot be checked in" in not_seated.skipped[0].problem
    run(act_on_registration, site, actor, person.id, A.UNDO_CHECK_IN)
    with sessions() as session:
        assert session.get_one(Registration, person.id).checked_in_at is None
    entries = trail(sessions, person)
    assert [e.action for e in entries] == ["registration.check_in", "registration.undo_check_in"]
    assert entries[0].before == {"checked_in_at": None} and entries[0].after["checked_in_at"]
    assert mail(outbox, person) == []  # checking in sends no email


def test_the_audit_log_records_who_what_from_and_to(run, site, actor, application_event, make_registration, sessions):
    event = application_event(capacity=5)
    person = make_registration(event, status=S.PENDING)
    run(act_on_registration, site, actor, person.id, A.APPROVE)
    [entry] = trail(sessions, person)
    assert (entry.organiser_id, entry.event_id, entry.action) == (actor.id, event.id, "registration.approve")
    assert (entry.before, entry.after) == ({"status": "pending"}, {"status": "confirmed"})
    assert entry.created_at is not None


def test_a_participants_own_changes_are_in_the_trail_with_the_promotion_they_cause(organiser_client, run, site, make_event, make_registration, sessions):
    event = make_event(capacity=1)
    seated = make_registration(event, status=S.CONFIRMED, name="Siti Rahman", organisation="Coast Guard", answers={"diet": "none"})
    waiting = make_registration(event, status=S.WAITLISTED, name="Budi Santoso", waitlisted_at=T0)
    run(participants.update_details, seated.token, Submission("Siti Rahman", seated.email, "Maritime Institute", {"diet": "halal"}))
    # Saving the same details again changes nothing, and logs nothing.
    run(participants.update_details, seated.token, Submission("Siti Rahman", seated.email, "Maritime Institute", {"diet": "halal"}))
    run(participants.cancel, site, seated.token)

    update, cancel = trail(sessions, seated)
    assert (update.actor, update.organiser_id, update.action) == ("participant", None, "registration.update")
    assert update.before == {"organisation": "Coast Guard", "diet": "none"}
    assert update.after == {"organisation": "Maritime Institute", "diet": "halal"}
    assert (cancel.actor, cancel.action, cancel.before, cancel.after) == ("participant", "registration.cancel", {"status": "confirmed"}, {"status": "cancelled"})
    [promotion] = trail(sessions, waiting)
    assert (promotion.actor, promotion.organiser_id, promotion.action) == ("portal", None, "registration.promote")

    shown = organiser_client.get(f"/admin/registrations/{seated.id}").text
    assert "the participant" in shown and "Details changed" in shown and "organisation: Coast Guard → Maritime Institute" in shown
    assert "status: confirmed → cancelled" in shown
    log = organiser_client.get(f"/admin/events/{event.slug}/audit").text
    assert "the portal (automatic)" in log and "Budi Santoso" in log and "command line" not in log
    # The promotion's reason is a note, not a change from nothing.
    assert "reason: a seat became free" in log and "reason: — →" not in log


def test_registrations_of_another_event_are_left_alone(run, site, actor, make_event, make_registration, sessions):
    event, other = make_event(), make_event()
    stranger = make_registration(other, status=S.CONFIRMED)
    report = run(act_on_registrations, site, actor, event.slug, A.CANCEL, [stranger.id])
    assert report.changed == [] and "not on this event" in report.skipped[0].problem
    assert statuses(sessions, stranger) == [S.CONFIRMED]


# --- through the pages -----------------------------------------------------------------------


def test_bulk_action_from_the_roster(organiser_client, application_event, make_registration, sessions):
    event = application_event(capacity=1)
    people = [make_registration(event, status=S.PENDING, name=f"Applicant {i}", created_at=T0 + timedelta(minutes=i)) for i in range(2)]
    roster = f"/admin/events/{event.slug}"
    chosen = {"action": "approve", "id": [p.id for p in people], "status": "pending"}
    # Approving emails each of them, so it asks first.
    ask = post(organiser_client, f"{roster}/registrations", chosen, token_from=roster)
    assert ask.status_code == 200 and "This will email 2 people" in ask.text
    assert statuses(sessions, *people) == [S.PENDING, S.PENDING]
    response = post(organiser_client, f"{roster}/registrations", {**chosen, "confirmed": "yes"}, token_from=roster)
    assert response.status_code == 303
    assert response.headers["location"] == f"http://testserver{roster}?status=pending"
    page = organiser_client.get(response.headers["location"])
    assert "Approved: 2." in page.text and "1 given a seat." in page.text
    assert statuses(sessions, *people) == [S.CONFIRMED, S.WAITLISTED]
    nothing = post(organiser_client, f"{roster}/registrations", {"action": "approve"}, token_from=roster)
    assert "Select at least one" in organiser_client.get(nothing.headers["location"]).text
    bad = post(organiser_client, f"{roster}/registrations", {"action": "explode", "id": [people[0].id]}, token_from=roster)
    assert bad.status_code == 400
    not_a_number = post(organiser_client, f"{roster}/registrations", {"action": "cancel", "id": "one"}, token_from=roster)
    assert not_a_number.status_code == 400


def test_registration_page_shows_the_trail(organiser_client, application_event, make_registration):
    event = application_event(capacity=1)
    person = make_registration(event, status=S.PENDING, name="Dewi Lestari", answers={"statement": "I study maritime security."})
    page = f"/admin/registrations/{person.id}"
    assert "I study maritime security." in organiser_client.get(page).text
    response = post(organiser_client, f"{page}/action", {"action": "approve"}, token_from=page)
    assert response.status_code == 303
    shown = organiser_client.get(page).text
    assert "Approved: Dewi Lestari." in shown
    assert "Olga Organiser" in shown and "status: pending → confirmed" in shown
    audit = organiser_client.get(f"/admin/events/{event.slug}/audit").text
    assert "Dewi Lestari" in audit and "status: pending → confirmed" in audit and "Olga Organiser" in audit
    assert organiser_client.get("/admin/registrations/999999").status_code == 404


def test_check_in_at_the_door(organiser_client, make_event, make_registration, sessions):
    event = make_event()
    person = make_registration(event, status=S.CONFIRMED, name="Hiroshi Sato", organisation="Embassy of Japan")
    make_registration(event, status=S.WAITLISTED, name="Hiroshi Waiting")
    door = f"/admin/events/{event.slug}/check-in"
    found = organiser_client.get(door, params={"q": "hiroshi"})
    assert found.status_code == 200
    assert "Hiroshi Sato" in found.text and "Hiroshi Waiting" not in found.text
    assert 'name="viewport"' in found.text and "check-in-button" in found.text
    response = post(organiser_client, f"/admin/registrations/{person.id}/check-in", {"action": "check_in", "q": "hiroshi"}, token_from=door)
    assert response.status_code == 303 and response.headers["location"] == f"http://testserver{door}"
    after = organiser_client.get(response.headers["location"])
    assert "Checked in: Hiroshi Sato." in after.text and "1</strong> of 1 checked in" in after.text
    undo = post(organiser_client, f"/admin/registrations/{person.id}/check-in", {"action": "undo_check_in", "q": "hiroshi"}, token_from=door)
    assert undo.headers["location"] == f"http://testserver{door}?q=hiroshi"
    with sessions() as session:
        assert session.get_one(Registration, person.id).checked_in_at is None


def test_a_large_bulk_is_refused_clearly(run, site, actor, make_event):
    event = make_event()
    with pytest.raises(InvalidTransition):
        run(act_on_registrations, site, actor, event.slug, A.CANCEL, list(range(1, 600)))


def test_actions_keep_working_when_the_report_is_long(organiser_client, make_event, make_registration):
    event = make_event()
    people = [make_registration(event, status=S.CANCELLED) for _ in range(8)]
    roster = f"/admin/events/{event.slug}"
    response = post(organiser_client, f"{roster}/registrations", {"action": "cancel", "confirmed": "yes", "id": [p.id for p in people]}, token_from=roster)
    page = organiser_client.get(response.headers["location"]).text
    assert "3 more were not changed" in page


def test_cancelling_from_the_roster_asks_first_and_says_what_will_happen(organiser_client, make_event, make_registration, sessions, outbox):
    event = make_event(capacity=2)
    seated = [make_registration(event, status=S.CONFIRMED, name=n, created_at=T0 + timedelta(minutes=i)) for i, n in enumerate(["Ana <b>Reyes</b>", "Jun Park"])]
    gone = make_registration(event, status=S.CANCELLED, name="Omar Gone")
    waiting = make_registration(event, status=S.WAITLISTED, name="Lina Waiting", waitlisted_at=T0)
    leaving = make_registration(event, status=S.WAITLISTED, name="Quinn Leaving", waitlisted_at=T0 - timedelta(hours=1))
    roster = f"/admin/events/{event.slug}"
    chosen = {"action": "cancel", "id": [seated[0].id, seated[1].id, gone.id, leaving.id], "status": "confirmed", "sort": "name"}

    ask = post(organiser_client, f"{roster}/registrations", chosen, token_from=roster)
    assert ask.status_code == 200
    assert "Cancel 3 registrations?" in ask.text and "Ana &lt;b&gt;Reyes&lt;/b&gt;" in ask.text and "Jun Park" in ask.text
    assert "This will email 3 people" in ask.text
    assert "1 selected registration will be left as it is, and not emailed" in ask.text and "Omar Gone is cancelled already" in ask.text
    # Quinn, first in the queue, is among those cancelled: only Lina is left waiting.
    assert "2 confirmed seats will be freed, and the first person on the waiting list will be given a seat" in ask.text
    # Nothing has changed yet, and nobody has been emailed.
    assert statuses(sessions, *seated, waiting, leaving) == [S.CONFIRMED, S.CONFIRMED, S.WAITLISTED, S.WAITLISTED] and outbox() == []
    # "Keep them" goes back to the roster as it was shown.
    assert f'{roster}?status=confirmed&amp;sort=name" role="button" class="secondary outline">Keep them</a>' in ask.text

    # The page's own form carries the selection and the roster's view through.
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', ask.text, re.S)
    assert form is not None
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    assert data["confirmed"] == ["yes"] and sorted(data["id"]) == sorted(str(i) for i in chosen["id"])
    done = organiser_client.post(form.group(1), data=data)
    assert done.status_code == 303 and done.headers["location"].endswith(f"{roster}?status=confirmed&sort=name")
    assert statuses(sessions, *seated, waiting, leaving) == [S.CANCELLED, S.CANCELLED, S.CONFIRMED, S.CANCELLED]


def test_an_action_comes_back_to_the_page_of_the_roster_it_was_taken_on(organiser_client, make_event, make_registration, sessions):
    event = make_event(capacity=None)
    people = [make_registration(event, status=S.PENDING, created_at=T0 + timedelta(minutes=i)) for i in range(60)]
    roster = f"/admin/events/{event.slug}"
    first = organiser_client.get(roster).text
    next_link = re.search(r'href="[^"]*\?(after=[^"&]+)[^"]*" rel="next"', first)
    assert next_link is not None
    cursor = next_link.group(1).split("=", 1)[1]
    second = organiser_client.get(roster, params={"after": cursor}).text
    # The bulk form carries the page's cursor.
    assert f'name="after" value="{cursor}"' in second
    chosen = {"action": "approve", "id": [people[55].id], "after": cursor, "confirmed": "yes"}
    done = post(organiser_client, f"{roster}/registrations", chosen, token_from=roster)
    assert done.status_code == 303 and f"after={cursor}" in done.headers["location"]
    # Asking before cancelling keeps it too, for the page's own form and for "Keep them".
    ask = post(organiser_client, f"{roster}/registrations", {"action": "cancel", "id": [people[56].id], "after": cursor}, token_from=roster)
    assert f'name="after" value="{cursor}"' in ask.text and f"?after={cursor}" in ask.text
    assert statuses(sessions, people[55]) == [S.CONFIRMED]


def test_cancelling_one_registration_asks_first(organiser_client, make_event, make_registration, sessions):
    event = make_event()
    person = make_registration(event, status=S.PENDING, name="Priya Kumar")
    page = f"/admin/registrations/{person.id}"
    ask = post(organiser_client, f"{page}/action", {"action": "cancel"}, token_from=page)
    assert ask.status_code == 200 and "Cancel 1 registration?" in ask.text and "Priya Kumar" in ask.text
    assert "will be freed" not in ask.text
    # A confirmed seat with nobody who could take it says so.
    seated = make_registration(event, status=S.CONFIRMED, name="Eko Seated")
    seat_page = f"/admin/registrations/{seated.id}"
    alone = post(organiser_client, f"{seat_page}/action", {"action": "cancel"}, token_from=seat_page)
    assert "1 confirmed seat will be freed; nobody on the waiting list will be given a seat." in alone.text
    assert statuses(sessions, person) == [S.PENDING]
    done = post(organiser_client, f"{page}/action", {"action": "cancel", "confirmed": "yes"}, token_from=page)
    assert done.status_code == 303 and statuses(sessions, person) == [S.CANCELLED]
    # Asking again about a cancelled registration says there is nothing to do.
    again = post(organiser_client, f"{page}/action", {"action": "cancel"}, token_from=page)
    assert again.status_code == 200 and "Nothing to cancel" in again.text



def test_the_cancel_preview_counts_promotions_as_the_action_makes_them(run, site, actor, make_event, make_registration, sessions):
    event = make_event(capacity=3)
    seated = [make_registration(event, status=S.CONFIRMED) for _ in range(3)]
    waiting = [make_registration(event, status=S.WAITLISTED, waitlisted_at=T0 + timedelta(minutes=i)) for i in range(2)]
    with sessions() as session:
        def preview(*chosen):  # type: ignore[no-untyped-def]
            found = [session.get_one(Registration, r.id) for r in chosen]
            return seats_after_cancelling(session, session.get_one(Event, event.id), found)

        assert preview(seated[0]) == (1, 1)
        assert preview(seated[0], waiting[0]) == (1, 1)  # one freed, one still waiting for it
        assert preview(seated[0], *waiting) == (1, 0)
        assert preview(waiting[0]) == (0, 0)  # nobody's seat is freed
    # What the action then does agrees.
    report = run(act_on_registrations, site, actor, event.slug, A.CANCEL, [seated[0].id, waiting[0].id])
    assert report.promoted == [(waiting[1].id, waiting[1].name)]
    # Over a lowered capacity, a freed seat is not a free one; at a cancelled event nothing is.
    over = make_event(capacity=1)
    overs = [make_registration(over, status=S.CONFIRMED) for _ in range(3)]
    make_registration(over, status=S.WAITLISTED)
    gone = make_event(capacity=1, status="cancelled")
    gone_seat = make_registration(gone, status=S.CONFIRMED)
    make_registration(gone, status=S.WAITLISTED)
    with sessions() as session:
        assert seats_after_cancelling(session, session.get_one(Event, over.id), [session.get_one(Registration, overs[0].id)]) == (1, 0)
        assert seats_after_cancelling(session, session.get_one(Event, gone.id), [session.get_one(Registration, gone_seat.id)]) == (1, 0)

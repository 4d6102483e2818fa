"""Events and programmes in the back office: create, edit, publish, unpublish, cancel,
duplicate; SEQUENCE and the emails that follow changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.errors import InvalidTransition
from portal.models import Admission, AuditEntry, Event, EventStatus, Programme, Registration
from portal.models import RegistrationStatus as S
from portal.registrations import participants
from tests.web.backoffice.conftest import post

SGT = ZoneInfo("Asia/Singapore")


def event_row(sessions, slug):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(Event).where(Event.slug == slug))


def form_of(event, **changes):  # type: ignore[no-untyped-def]
    """The edit form's fields for an event, as a browser would send them back."""
    local = lambda t: t.astimezone(ZoneInfo(event.timezone)).strftime("%Y-%m-%dT%H:%M") if t else ""  # noqa: E731
    data = {
        "title": event.title, "programme": "", "category": event.category, "timezone": event.timezone,
        "starts_at": local(event.starts_at), "ends_at": local(event.ends_at), "venue": event.venue,
        "address": event.address, "online_url": event.online_url or "",
        "capacity": "" if event.capacity is None else str(event.capacity),
        "registration_opens_at": local(event.registration_opens_at), "registration_closes_at": local(event.registration_closes_at),
        "description": event.description, "speakers": "\n".join(event.speakers),
    }
    if event.waitlist:
        data["waitlist"] = "y"
    data.update(changes)
    return data


NEW = {
    "title": "Maritime Security Roundtable", "slug": "maritime-2027", "programme": "", "category": "roundtable",
    "timezone": "Asia/Singapore", "starts_at": "2027-03-08T09:00", "ends_at": "2027-03-08 17:00",
    "venue": "RSIS, Block S4", "capacity": "40", "waitlist": "y",
    "description": "Talks on **sea lanes**.\n\n<script>alert(1)</script>", "speakers": "Dr A\n\nProf B\n",
}


def test_create_an_event_as_a_draft(organiser_client, sessions):
    response = post(organiser_client, "/admin/events/new", NEW, token_from="/admin/events/new")
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/admin/events/maritime-2027"
    event = event_row(sessions, "maritime-2027")
    assert event.status == EventStatus.DRAFT and event.sequence == 0
    assert event.starts_at == datetime(2027, 3, 8, 9, 0, tzinfo=SGT)
    assert event.speakers == ["Dr A", "Prof B"] and event.capacity == 40 and event.waitlist
    page = organiser_client.get(response.headers["location"])
    assert "created as a draft" in page.text
    assert "<strong>sea lanes</strong>" in page.text and "<script>alert(1)</script>" not in page.text
    assert organiser_client.get("/events/maritime-2027").status_code == 404  # not public yet


def test_the_form_says_what_to_fix(organiser_client, make_event):
    taken = make_event()
    bad = dict(NEW, title="", ends_at="2027-03-08T08:00", timezone="Mars/Olympus", capacity="-1", slug="Not A Slug")
    response = post(organiser_client, "/admin/events/new", bad, token_from="/admin/events/new")
    assert response.status_code == 422
    for words in ("Give the event a title", "must end after it starts", "not a time zone", "0 to 1,000,000", "lowercase letters"):
        assert words in response.text
    assert 'value="Mars/Olympus"' in response.text  # what was typed is kept
    clash = post(organiser_client, "/admin/events/new", dict(NEW, slug=taken.slug), token_from="/admin/events/new")
    assert clash.status_code == 409 and "exists already" in clash.text
    # The field itself says so too, beside what was typed.
    assert clash.text.count("exists already") == 2 and 'aria-invalid="true"' in clash.text


@pytest.mark.parametrize(("changes", "message"), [
    ({"title": "   "}, "Give the event a title"),
    ({"starts_at": "0001-01-01T00:00"}, "Enter a date between 2000 and 2100"),
    ({"starts_at": "0027-03-08T09:00"}, "Enter a date between 2000 and 2100"),
    ({"timezone": "Asia/" + "x" * 500}, "not a time zone"),
    ({"starts_at": ""}, "Enter when the event starts: a date and a time."),
    ({"ends_at": "next tuesday"}, "Enter a date and a time, such as 2027-03-08 09:00."),
    ({"capacity": "forty"}, "Enter a whole number of seats, or leave it empty for no limit."),
    # The clocks in London go from 01:00 to 02:00 on 28 March 2027: 01:30 never happens.
    ({"timezone": "Europe/London", "starts_at": "2027-03-28T01:30", "ends_at": "2027-03-28T03:00"}, "28 Mar 2027, 01:30 does not exist in Europe/London"),
    ({"registration_opens_at": "2027-03-09T09:00"}, "Registration must open before the event starts."),
    ({"registration_closes_at": "2027-03-08T10:00"}, "Registration closes when the event starts at the latest"),
])
def test_the_form_refuses_times_and_text_that_cannot_be_right(organiser_client, sessions, changes, message):
    response = post(organiser_client, "/admin/events/new", dict(NEW, **changes), token_from="/admin/events/new")
    assert response.status_code == 422, response.text[:300]
    assert message in response.text
    assert "Not a valid" not in response.text  # no stock WTForms wording
    assert event_row(sessions, "maritime-2027") is None


def test_publish_and_unpublish(organiser_client, make_event, make_registration, sessions):
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    page = f"/admin/events/{event.slug}"
    assert post(organiser_client, f"{page}/publish", token_from=page).status_code == 303
    published = event_row(sessions, event.slug)
    assert published.status == EventStatus.PUBLISHED and published.published_at and published.sequence == 1
    assert organiser_client.get(f"/events/{event.slug}").status_code == 200
    again = post(organiser_client, f"{page}/publish", token_from=page)
    assert "published already" in organiser_client.get(again.headers["location"]).text

    assert "Unpublish</button>" in organiser_client.get(page).text
    make_registration(event, status=S.CONFIRMED)
    # With someone registered the button is gone; a request anyway is refused with the reason.
    assert "Unpublish</button>" not in organiser_client.get(page).text
    refused = post(organiser_client, f"{page}/unpublish", token_from=page)
    assert "cancel it instead" in organiser_client.get(refused.headers["location"]).text
    assert event_row(sessions, event.slug).status == EventStatus.PUBLISHED


def test_lowering_the_capacity_under_the_confirmed_says_what_happens(organiser_client, make_event, make_registration, sessions):
    event = make_event(capacity=5)
    for _ in range(4):
        make_registration(event, status=S.CONFIRMED)
    edit = f"/admin/events/{event.slug}/edit"
    saved = post(organiser_client, edit, form_of(event, capacity="1"), token_from=edit)
    shown = organiser_client.get(saved.headers["location"]).text
    assert "Saved." in shown and "3 more people are confirmed than the new capacity allows. They keep their seats" in shown
    assert event_row(sessions, event.slug).capacity == 1
    quiet = post(organiser_client, edit, form_of(event_row(sessions, event.slug), capacity="4"), token_from=edit)
    assert "than the new capacity allows" not in organiser_client.get(quiet.headers["location"]).text


def test_unpublish_an_event_nobody_registered_for(organiser_client, make_event, sessions):
    event = make_event()
    page = f"/admin/events/{event.slug}"
    post(organiser_client, f"{page}/unpublish", token_from=page)
    assert event_row(sessions, event.slug).status == EventStatus.DRAFT


def test_moving_an_event_raises_sequence_and_tells_registrants(organiser_client, make_event, make_registration, sessions, outbox):
    event = make_event()
    told = [make_registration(event, status=s) for s in (S.CONFIRMED, S.WAITLISTED, S.PENDING)]
    make_registration(event, status=S.CANCELLED)
    page = f"/admin/events/{event.slug}/edit"
    later = (event.starts_at + timedelta(days=1)).replace(second=0)
    data = form_of(event, starts_at=later.astimezone(SGT).strftime("%Y-%m-%dT%H:%M"), ends_at=(later + timedelta(hours=2)).astimezone(SGT).strftime("%Y-%m-%dT%H:%M"))
    response = post(organiser_client, page, data, token_from=page)
    assert response.status_code == 303
    assert "3 registrants are being emailed" in organiser_client.get(response.headers["location"]).text
    moved = event_row(sessions, event.slug)
    assert moved.starts_at == later and moved.sequence == event.sequence + 1
    changed = [m for m in outbox() if m.kind == "event_changed"]
    assert sorted(m.registration_id for m in changed) == sorted(r.id for r in told)
    assert "(was " in changed[0].body_text
    with sessions() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "event.update"))
        assert set(entry.before) == {"starts_at", "ends_at"} and entry.after["starts_at"] == later.isoformat()


def test_a_new_title_does_not_move_anything(organiser_client, make_event, make_registration, sessions, outbox):
    event = make_event(description="Old")
    make_registration(event)
    page = f"/admin/events/{event.slug}/edit"
    post(organiser_client, page, form_of(event, title="A better title"), token_from=page)
    edited = event_row(sessions, event.slug)
    assert edited.title == "A better title" and edited.sequence == event.sequence
    assert [m for m in outbox() if m.kind == "event_changed"] == []
    unchanged = post(organiser_client, page, form_of(edited), token_from=page)
    assert "Nothing changed." in organiser_client.get(unchanged.headers["location"]).text


def test_cancel_asks_first_then_tells_everyone(organiser_client, make_event, make_registration, sessions, outbox):
    event = make_event()
    active = [make_registration(event, status=s) for s in (S.CONFIRMED, S.CONFIRMED, S.WAITLISTED)]
    make_registration(event, status=S.REJECTED)
    ask = organiser_client.get(f"/admin/events/{event.slug}/cancel")
    assert ask.status_code == 200 and "3 registrants" in ask.text
    assert event_row(sessions, event.slug).status == EventStatus.PUBLISHED
    response = post(organiser_client, f"/admin/events/{event.slug}/cancel", token_from=f"/admin/events/{event.slug}/cancel")
    assert response.status_code == 303
    cancelled = event_row(sessions, event.slug)
    assert cancelled.status == EventStatus.CANCELLED and cancelled.sequence == event.sequence + 1
    sent = [m for m in outbox() if m.kind == "event_cancelled"]
    assert sorted(m.registration_id for m in sent) == sorted(r.id for r in active)
    public = organiser_client.get(f"/events/{event.slug}")
    assert public.status_code == 200 and "ancelled" in public.text


def test_after_cancelling_an_event_nobody_is_told_they_still_have_a_seat(organiser_client, other_client, run, site, make_event, make_registration, sessions, outbox):
    event = make_event(capacity=1, online_url="https://meet.example.org/room")
    seated = make_registration(event, status=S.CONFIRMED)
    waiting = make_registration(event, status=S.WAITLISTED)
    page = f"/admin/events/{event.slug}"
    post(organiser_client, f"{page}/cancel", token_from=f"{page}/cancel")
    sent = len(outbox())

    # The participant's page says it is over: no seat, no joining link, nothing to cancel.
    manage = other_client.get(f"/registrations/{seated.token}").text
    assert "The event is cancelled, so your registration ended with it." in manage
    assert "you have a seat" not in manage and "meet.example.org" not in manage and "Cancel my registration" not in manage
    # Cancelling anyway frees no seat for the waiting list, and sends nothing; details stay.
    with pytest.raises(InvalidTransition):
        run(participants.cancel, site, seated.token)
    with pytest.raises(InvalidTransition):
        run(participants.update_details, seated.token, participants.Submission("Someone Else", seated.email))
    # The roster stays as it was, without its actions, and refuses them if sent anyway.
    roster = organiser_client.get(page).text
    assert "This event is cancelled: its roster stays as it was" in roster and 'name="action" value="approve"' not in roster
    assert 'type="checkbox"' not in roster and "Check-in at the door" not in roster
    door = organiser_client.get(f"{page}/check-in").text
    assert "nobody can be checked in" in door and 'value="check_in"' not in door
    refused = post(organiser_client, f"{page}/registrations", {"action": "promote", "id": [waiting.id]}, token_from=page)
    assert "its roster stays as it was" in organiser_client.get(refused.headers["location"]).text
    one = f"/admin/registrations/{waiting.id}"
    refused_one = post(organiser_client, f"{one}/action", {"action": "promote"}, token_from=one)
    assert "its roster stays as it was" in organiser_client.get(refused_one.headers["location"]).text
    with sessions() as session:
        assert [session.get_one(Registration, r.id).status for r in (seated, waiting)] == [S.CONFIRMED, S.WAITLISTED]
    assert len(outbox()) == sent


def test_duplicate_as_the_next_run(organiser_client, make_programme, make_event, make_registration, sessions):
    programme = make_programme(code="tatc", admission=Admission.APPLICATION)
    start = datetime(2027, 3, 8, 9, 0, tzinfo=SGT)
    make_event(slug="tatc-2026-09", programme_id=programme.id, starts_at=start - timedelta(days=182), ends_at=start - timedelta(days=178))
    event = make_event(
        slug="tatc-2027-03", title="TATC March 2027", programme_id=programme.id, starts_at=start, ends_at=start + timedelta(days=4),
        registration_closes_at=start - timedelta(days=14), capacity=40,
    )
    make_registration(event)
    page = f"/admin/events/{event.slug}/duplicate"
    suggestion = organiser_client.get(page)
    assert suggestion.status_code == 200
    assert 'value="tatc-2027-09"' in suggestion.text  # the programme's usual interval on
    response = post(organiser_client, page, {"slug": "tatc-2027-10", "title": "TATC October 2027", "starts_at": "2027-10-04T09:00"}, token_from=page)
    assert response.status_code == 303
    assert response.headers["location"] == "http://testserver/admin/events/tatc-2027-10/edit"
    copy = event_row(sessions, "tatc-2027-10")
    shift = datetime(2027, 10, 4, 9, 0, tzinfo=SGT) - start
    assert copy.status == EventStatus.DRAFT and copy.sequence == 0 and copy.uid != event.uid
    assert copy.ends_at == event.ends_at + shift and copy.registration_closes_at == event.registration_closes_at + shift
    assert (copy.programme_id, copy.capacity, copy.venue) == (programme.id, 40, event.venue)
    assert organiser_client.get("/admin/events/tatc-2027-10").text.count('name="id"') == 0  # nobody registered


def test_programmes(organiser_client, sessions):
    data = {"code": "isf-asia", "name": "International Strategy Forum-Asia", "admission": "application", "summary": "A forum", "description": "*Yearly*"}
    response = post(organiser_client, "/admin/programmes/new", data, token_from="/admin/programmes/new")
    assert response.status_code == 303
    listing = organiser_client.get("/admin/programmes").text
    assert "International Strategy Forum-Asia" in listing
    edit = "/admin/programmes/isf-asia/edit"
    assert '<option selected value="application">' in organiser_client.get(edit).text
    post(organiser_client, edit, dict(data, admission="nomination", name="ISF-Asia"), token_from=edit)
    with sessions() as session:
        programme = session.scalar(select(Programme).where(Programme.code == "isf-asia"))
        assert (programme.name, programme.admission) == ("ISF-Asia", Admission.NOMINATION)
    again = post(organiser_client, "/admin/programmes/new", data, token_from="/admin/programmes/new")
    assert again.status_code == 409
    assert organiser_client.get("/admin/programmes/nope/edit").status_code == 404


def test_event_lists_and_dashboard(organiser_client, make_programme, make_event, make_registration):
    programme = make_programme(admission=Admission.APPLICATION)
    event = make_event(title="Cohesive Societies", programme_id=programme.id)
    make_registration(event, status=S.PENDING)
    make_event(title="Old Seminar", starts_at=datetime(2020, 1, 1, tzinfo=SGT), ends_at=datetime(2020, 1, 1, 2, tzinfo=SGT))
    dashboard = organiser_client.get("/admin/").text
    assert "Cohesive Societies" in dashboard and "1 pending application" in dashboard
    assert "Old Seminar" not in organiser_client.get("/admin/events").text
    assert "Old Seminar" in organiser_client.get("/admin/events?when=past").text
    assert "Cohesive" in organiser_client.get("/admin/events?q=cohesive").text
    assert organiser_client.get("/admin/events?when=someday").status_code == 400


def test_organisers_see_where_the_public_form_stands(organiser_client, make_event):
    now = datetime.now(SGT).replace(second=0, microsecond=0)
    closed = make_event(title="Closed Forum", registration_closes_at=now - timedelta(hours=1))
    later = make_event(title="Later Forum", registration_opens_at=now + timedelta(days=2))
    open_one = make_event(title="Open Forum", registration_closes_at=now + timedelta(days=3))
    closed_page = organiser_client.get(f"/admin/events/{closed.slug}").text
    assert f"Registration closed {(now - timedelta(hours=1)).strftime('%a %-d %b %Y, %H:%M')} (Asia/Singapore, UTC+08)" in closed_page
    later_page = organiser_client.get(f"/admin/events/{later.slug}").text
    assert f"Registration opens {(now + timedelta(days=2)).strftime('%a %-d %b %Y, %H:%M')} (Asia/Singapore, UTC+08)" in later_page
    open_page = organiser_client.get(f"/admin/events/{open_one.slug}").text
    assert f"Registration open until {(now + timedelta(days=3)).strftime('%a %-d %b %Y, %H:%M')} (Asia/Singapore, UTC+08)" in open_page
    dashboard = organiser_client.get("/admin/").text
    rows = {title: dashboard.split(title, 1)[1].split("</tr>", 1)[0] for title in ("Closed Forum", "Later Forum", "Open Forum")}
    assert "Registration closed" in rows["Closed Forum"]
    assert "Registration not yet open" in rows["Later Forum"]
    assert "Registration open" in rows["Open Forum"] and "closed" not in rows["Open Forum"]


def test_a_page_number_that_is_not_plain_digits_shows_the_first_page(organiser_client, make_event):
    make_event(title="Only Seminar")
    # "²" and "①" pass str.isdigit() but int() refuses them: they once gave a 500 here.
    for page in ("²", "①", "-1", "0", "abc", "99999999"):
        response = organiser_client.get("/admin/events", params={"page": page})
        assert response.status_code == 200, page


@pytest.mark.parametrize(("slug", "old", "new", "suggested"), [
    ("tatc-2027-03", datetime(2027, 3, 8), datetime(2027, 10, 4), "tatc-2027-10"),
    ("forum-2027", datetime(2027, 3, 8), datetime(2028, 3, 6), "forum-2028"),
    # A later run in the same year names its month, rather than 'maritime-law-2027-2027-03'.
    ("maritime-law-2027", datetime(2027, 2, 8), datetime(2027, 3, 8), "maritime-law-2027-03"),
    ("tatc-2027-03", datetime(2027, 3, 8), datetime(2027, 3, 15), "tatc-2027-03-15"),
    ("talk-2027-03-08", datetime(2027, 3, 8), datetime(2027, 3, 15), "talk-2027-03-15"),
    ("weekly-seminar", datetime(2027, 3, 8), datetime(2027, 3, 15), "weekly-seminar-2027-03"),
])
def test_the_next_runs_address_moves_its_date(slug, old, new, suggested):
    from portal.catalogue.editing import _next_slug

    assert _next_slug(slug, old, new) == suggested

"""The timetable editor in the back office: an event's sessions by day, adding, editing (and
moving), cancelling, restoring and deleting one; refusals on the field at fault; clash
warnings; the audit log; and the emails those who chose a session get when it moves or is
cancelled."""

from __future__ import annotations

from datetime import UTC, timedelta

import icalendar
import pytest
from sqlalchemy import select

from portal.models import AuditEntry, EventStatus, OutboxMessage, SessionKind, SessionStatus
from portal.models import RegistrationStatus as S
from portal.templating import date_range
from tests.web.backoffice.conftest import post
from tests.web.backoffice.timetable.conftest import local, session_row

pytestmark = pytest.mark.usefixtures("speakers")


def timetable(event) -> str:  # type: ignore[no-untyped-def]
    return f"/admin/events/{event.slug}/sessions"


def new_form(event, **changes):  # type: ignore[no-untyped-def]
    start = event.starts_at + timedelta(hours=1)
    data = {
        "key": "ws-a", "title": "Workshop A: Faith and the city", "kind": "workshop", "starts_at": local(start),
        "ends_at": local(start + timedelta(hours=2)), "room": "Room 2", "track": "Workshops",
        "speakers": "siti-rahman\ntan-ah-kow", "description": "About **cities**.", "choose": "y", "places": "30",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def edit_form(s, **changes):  # type: ignore[no-untyped-def]
    """The edit form of a session, as a browser sends it back."""
    data = {
        "title": s.title, "kind": SessionKind(s.kind).value, "starts_at": local(s.starts_at), "ends_at": local(s.ends_at),
        "room": s.room, "track": s.track or "", "speakers": "", "description": s.description,
        "places": "" if s.places is None else str(s.places),
        **{name: "y" for name in ("choose", "waitlist", "check_in") if getattr(s, name)},
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def audit(sessions, action):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def mail(sessions, kind=None):  # type: ignore[no-untyped-def]
    with sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.scalars(query))


def test_the_timetable_lists_sessions_by_day_in_the_events_zone(organiser_client, conference, add_session, choose, make_registration):
    opening = add_session(conference, "opening", kind="keynote", room="Auditorium", speakers=["tan-ah-kow"], check_in=True)
    workshop = add_session(conference, "ws-b", 2, 2, kind="workshop", room="Room 3", track="Workshops", choose=True, places=20, waitlist=True)
    add_session(conference, "closing", 24, room="Auditorium", speakers=["siti-rahman", "lee-wei"])
    choose(make_registration(conference), workshop)
    choose(make_registration(conference), workshop, waiting=True)

    event_page = organiser_client.get(f"/admin/events/{conference.slug}")
    assert f'href="http://testserver{timetable(conference)}"' in event_page.text

    page = organiser_client.get(timetable(conference))
    assert page.status_code == 200
    text = page.text
    assert "3 sessions." in text and "Asia/Singapore, UTC+08" in text
    day_one, day_two = opening.starts_at.astimezone(conference.starts_at.tzinfo), conference.starts_at + timedelta(days=1)
    assert day_one.strftime("%A %-d %B %Y") in text and day_two.strftime("%A %-d %B %Y") in text
    assert text.index("Opening") < text.index("Ws B") < text.index(day_two.strftime("%A %-d %B %Y")) < text.index("Closing")
    assert ">09:00</time>–<time" in text and ">11:00</time>–<time" in text
    assert "Dr Tan Ah Kow" in text and "Siti Rahman</a>, <a" in text
    assert "1 of 20 places · 1 waiting" in text and "Room 3" in text and "Workshops" in text
    assert "(checks in)" in text
    # A session people chose has no Delete link; the others have.
    assert f"/sessions/{workshop.key}/delete" not in text and f"/sessions/{opening.key}/delete" in text


def test_add_a_session_through_the_form(organiser_client, conference, sessions):
    response = post(organiser_client, f"{timetable(conference)}/new", new_form(conference), token_from=f"{timetable(conference)}/new")
    assert response.status_code == 303, response.text[:2000]
    assert response.headers["location"].endswith(f"{timetable(conference)}#session-ws-a")
    created = session_row(sessions, conference, "ws-a")
    assert created.title == "Workshop A: Faith and the city" and created.places == 30 and created.choose
    assert created.starts_at == conference.starts_at + timedelta(hours=1) and created.room == "Room 2"
    page = organiser_client.get(response.headers["location"])
    assert "Added: Workshop A: Faith and the city." in page.text
    assert page.text.index("Siti Rahman") < page.text.index("Dr Tan Ah Kow")  # in the order typed
    (entry,) = audit(sessions, "session.create")
    assert entry.event_id == conference.id and entry.after["session"] == "ws-a"
    assert entry.after["speakers"] == ["siti-rahman", "tan-ah-kow"]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"ends_at": "earlier"}, "ends_at", "The session must end after it starts."),
    ({"starts_at": "before"}, "starts_at", "The session must lie within the event:"),
    ({"ends_at": "after"}, "starts_at", "The session must lie within the event:"),
    ({"speakers": "tan-ah-kow\ntan-ah-kwo"}, "speakers", "No speaker has the key tan-ah-kwo (did you mean tan-ah-kow?)"),
    ({"speakers": "Dr Tan"}, "speakers", "is not a speaker"),
    ({"choose": None}, "places", "Places apply only to a session participants choose"),
    ({"kind": "break"}, "choose", "A break cannot be chosen."),
    ({"waitlist": "y", "places": ""}, "waitlist", "A waiting list needs a number of places: enter the places"),
    ({"key": "Not a key"}, "key", "Use lowercase letters, digits and single hyphens"),
    ({"key": "new"}, "key", "kept for the page that adds a session"),
    ({"title": "  "}, "title", "Give the session a title."),
    ({"places": "thirty"}, "places", "Enter a whole number of places"),
])
def test_refusals_are_shown_on_the_field_in_words(organiser_client, conference, sessions, changes, field, words):
    start = conference.starts_at + timedelta(hours=1)
    times = {"earlier": local(start - timedelta(minutes=30)), "before": local(conference.starts_at - timedelta(hours=1)),
             "after": local(conference.ends_at + timedelta(hours=1))}
    changes = {k: times.get(v, v) if v else v for k, v in changes.items()}
    response = post(organiser_client, f"{timetable(conference)}/new", new_form(conference, **changes), token_from=f"{timetable(conference)}/new")
    assert response.status_code == 422, response.text[:2000]
    assert words in response.text
    assert f'id="{field}-error"' in response.text and 'aria-invalid="true"' in response.text
    assert "Not a valid" not in response.text
    assert session_row(sessions, conference, "ws-a") is None
    if "lie within" in words:
        assert date_range(conference.starts_at, conference.ends_at, conference.timezone) in response.text


def test_a_key_taken_is_refused_on_its_field(organiser_client, conference, add_session, sessions):
    add_session(conference, "ws-a", title="The first")
    response = post(organiser_client, f"{timetable(conference)}/new", new_form(conference), token_from=f"{timetable(conference)}/new")
    assert response.status_code == 422 and "has a session with the key “ws-a” already" in response.text
    assert session_row(sessions, conference, "ws-a").title == "The first"


def test_every_post_needs_the_csrf_token(organiser_client, conference, add_session, sessions):
    s = add_session(conference, "talk")
    for path, data in [(f"{timetable(conference)}/new", new_form(conference)), (f"{timetable(conference)}/talk/cancel", {}),
                       (f"{timetable(conference)}/talk/delete", {}), (f"{timetable(conference)}/talk/edit", edit_form(s, title="X"))]:
        assert organiser_client.post(path, data=data).status_code == 403
    assert session_row(sessions, conference, "talk").title == "Talk" and session_row(sessions, conference, "ws-a") is None


@pytest.fixture
def chosen(conference, add_session, choose, make_registration, make_event):  # type: ignore[no-untyped-def]
    """A workshop chosen by a confirmed participant holding a place, a pending one waiting
    for a place, and a cancelled registration; another participant chose nothing."""
    workshop = add_session(conference, "ws-a", 1, 2, kind="workshop", room="Room 2", choose=True, places=1, waitlist=True)
    holder = make_registration(conference, name="Hana Holder", email="hana@example.org")
    waiter = make_registration(conference, name="Wan Waiting", email="wan@example.org", status=S.PENDING, confirmed_at=None)
    gone = make_registration(conference, name="Gus Gone", email="gus@example.org", status=S.CANCELLED)
    make_registration(conference, name="Nina Nothing", email="nina@example.org")
    choose(holder, workshop)
    choose(waiter, workshop, waiting=True)
    choose(gone, workshop)
    return workshop


def test_moving_a_session_emails_those_who_chose_it_and_only_them(organiser_client, conference, chosen, sessions):
    new_start = chosen.starts_at + timedelta(hours=3)
    edit = f"{timetable(conference)}/{chosen.key}/edit"
    response = post(organiser_client, edit, edit_form(chosen, starts_at=local(new_start), ends_at=local(new_start + timedelta(hours=1)), room="Room 4"), token_from=edit)
    assert response.status_code == 303, response.text[:2000]
    moved = session_row(sessions, conference, chosen.key)
    assert moved.starts_at == new_start and moved.room == "Room 4" and moved.sequence == chosen.sequence + 1
    assert "2 people who chose it are being emailed about the change." in organiser_client.get(response.headers["location"]).text

    messages = mail(sessions)
    assert sorted(m.to_address for m in messages) == ["hana@example.org", "wan@example.org"]
    assert {m.kind for m in messages} == {"session_changed"}
    hana = next(m for m in messages if m.to_address == "hana@example.org")
    assert hana.subject == f"Changed: Ws A ({conference.title})"
    now_when = date_range(new_start, new_start + timedelta(hours=1), "Asia/Singapore")
    was_when = date_range(chosen.starts_at, chosen.ends_at, "Asia/Singapore")
    for body in (hana.body_text, hana.body_html):
        assert now_when in body and was_when in body and "Asia/Singapore, UTC+08" in body
        assert "Room 4" in body and "Room 2" in body and "You hold a place" in body
    assert "/registrations/" in hana.body_text and hana.registration_id is not None
    wan = next(m for m in messages if m.to_address == "wan@example.org")
    assert "waiting list" in wan.body_text
    # The session is in Hana's calendar (a seat and a place): its .ics updates it there. Wan
    # waits for both, so has nothing in a calendar to change.
    (invite,) = hana.attachments
    assert invite["filename"] == "invite.ics" and "method=REQUEST" in invite["content_type"]
    calendar = icalendar.Calendar.from_ical(invite["content"])
    (vevent,) = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "REQUEST" and str(vevent["UID"]) == moved.uid
    assert vevent["SEQUENCE"] == moved.sequence + conference.sequence and "Room 4" in str(vevent["LOCATION"])
    assert vevent.decoded("DTSTART") == new_start and "mailto:hana@example.org" in str(vevent["ATTENDEE"]).lower()
    assert "the attached calendar file updates the session in your calendar" in hana.body_text
    assert wan.attachments == [] and "attached calendar file" not in wan.body_text

    (entry,) = audit(sessions, "session.update")
    assert entry.before["room"] == "Room 2" and entry.after["room"] == "Room 4" and entry.after["session"] == chosen.key
    assert entry.after["starts_at"] == new_start.astimezone(UTC).isoformat()


def test_a_change_that_does_not_move_it_tells_nobody(organiser_client, conference, chosen, sessions):
    edit = f"{timetable(conference)}/{chosen.key}/edit"
    response = post(organiser_client, edit, edit_form(chosen, title="Workshop A, renamed", description="New words"), token_from=edit)
    assert response.status_code == 303
    row = session_row(sessions, conference, chosen.key)
    assert row.title == "Workshop A, renamed" and row.sequence == chosen.sequence
    assert mail(sessions) == []
    assert "Saved." in organiser_client.get(response.headers["location"]).text
    # Sent again unchanged: nothing changed, nothing recorded.
    again = post(organiser_client, edit, edit_form(row), token_from=edit)
    assert "Nothing changed." in organiser_client.get(again.headers["location"]).text
    assert len(audit(sessions, "session.update")) == 1


def test_a_chosen_session_must_stay_one_to_choose(organiser_client, conference, chosen, sessions):
    edit = f"{timetable(conference)}/{chosen.key}/edit"
    data = edit_form(chosen, places="")
    del data["choose"], data["waitlist"]
    response = post(organiser_client, edit, data, token_from=edit)
    assert response.status_code == 422 and "2 people have chosen this session, so it must stay one to choose" in response.text
    data = edit_form(chosen)
    del data["waitlist"]
    response = post(organiser_client, edit, data, token_from=edit)
    assert response.status_code == 422 and "1 person waits for a place: keep the waiting list" in response.text


def test_more_places_go_to_the_waiting_list_in_order(organiser_client, conference, chosen, sessions):
    edit = f"{timetable(conference)}/{chosen.key}/edit"
    response = post(organiser_client, edit, edit_form(chosen, places="2"), token_from=edit)
    assert response.status_code == 303
    assert "1 person from its waiting list now has a place" in organiser_client.get(response.headers["location"]).text
    assert [m.to_address for m in mail(sessions, "session_promoted")] == ["wan@example.org"]


def test_cancel_asks_first_then_emails_the_choosers_and_restore_brings_it_back(organiser_client, conference, chosen, sessions):
    ask = organiser_client.get(f"{timetable(conference)}/{chosen.key}/cancel")
    assert ask.status_code == 200 and "Cancel “Ws A”?" in ask.text
    assert "<strong>2 people</strong> who chose it" in ask.text and "Cancel the session and email 2" in ask.text
    assert session_row(sessions, conference, chosen.key).status == SessionStatus.SCHEDULED  # asking changed nothing

    done = post(organiser_client, f"{timetable(conference)}/{chosen.key}/cancel", token_from=f"{timetable(conference)}/{chosen.key}/cancel")
    assert done.status_code == 303
    row = session_row(sessions, conference, chosen.key)
    assert row.status == SessionStatus.CANCELLED and row.sequence == chosen.sequence + 1
    listing = organiser_client.get(done.headers["location"]).text
    assert "Cancelled: Ws A." in listing and "2 people who chose it are being emailed." in listing and "Restore</button>" in listing
    cancelled = mail(sessions, "session_cancelled")
    assert sorted(m.to_address for m in cancelled) == ["hana@example.org", "wan@example.org"]
    assert cancelled[0].subject == f"Cancelled: Ws A ({conference.title})"
    assert "have cancelled a session you chose" in cancelled[0].body_text and "Your registration for the event itself stands" in cancelled[0].body_text
    hana = next(m for m in cancelled if m.to_address == "hana@example.org")
    (removal,) = hana.attachments
    calendar = icalendar.Calendar.from_ical(removal["content"])
    assert removal["filename"] == "cancel.ics" and calendar["METHOD"] == "CANCEL"
    assert str(calendar.walk("VEVENT")[0]["UID"]) == chosen.uid and str(calendar.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert next(m for m in cancelled if m.to_address == "wan@example.org").attachments == []
    assert audit(sessions, "session.cancel")[0].after["status"] == "cancelled"

    again = post(organiser_client, f"{timetable(conference)}/{chosen.key}/cancel", token_from=timetable(conference))
    assert "cancelled already" in organiser_client.get(again.headers["location"]).text

    restored = post(organiser_client, f"{timetable(conference)}/{chosen.key}/restore", token_from=timetable(conference))
    assert restored.status_code == 303
    row = session_row(sessions, conference, chosen.key)
    assert row.status == SessionStatus.SCHEDULED and row.sequence == chosen.sequence + 2
    back = mail(sessions, "session_changed")
    assert sorted(m.to_address for m in back) == ["hana@example.org", "wan@example.org"]
    assert "Status: back on the programme (was cancelled)" in back[0].body_text
    assert audit(sessions, "session.restore")[0].after["status"] == "scheduled"


def test_a_draft_events_choosers_are_not_emailed(organiser_client, make_event, add_session, choose, make_registration, sessions):
    start = (make_event().starts_at + timedelta(days=5)).replace(hour=1, minute=0)
    draft = make_event(status=EventStatus.DRAFT, published_at=None, starts_at=start, ends_at=start + timedelta(hours=8))
    workshop = add_session(draft, "ws", choose=True)
    choose(make_registration(draft), workshop)
    done = post(organiser_client, f"{timetable(draft)}/ws/cancel", token_from=timetable(draft))
    assert done.status_code == 303 and mail(sessions) == []


def test_delete_only_a_session_nobody_chose_and_ask_first(organiser_client, conference, chosen, add_session, sessions):
    refused = organiser_client.get(f"{timetable(conference)}/{chosen.key}/delete")
    assert "2 people have chosen this session, so it cannot be deleted" in refused.text and "Delete the session</button>" not in refused.text
    forced = post(organiser_client, f"{timetable(conference)}/{chosen.key}/delete", token_from=timetable(conference))
    assert "cannot be deleted" in organiser_client.get(forced.headers["location"]).text
    assert session_row(sessions, conference, chosen.key) is not None

    add_session(conference, "spare", 5, speakers=["lee-wei"])
    ask = organiser_client.get(f"{timetable(conference)}/spare/delete")
    assert "Delete the session</button>" in ask.text and "Nobody chose it" in ask.text
    assert session_row(sessions, conference, "spare") is not None
    done = post(organiser_client, f"{timetable(conference)}/spare/delete", token_from=timetable(conference))
    assert "Deleted: Spare." in organiser_client.get(done.headers["location"]).text
    assert session_row(sessions, conference, "spare") is None
    (entry,) = audit(sessions, "session.delete")
    assert entry.before["session"] == "spare" and entry.event_id == conference.id
    # The audit page names what happened in words.
    assert "Session deleted" in organiser_client.get(f"/admin/events/{conference.slug}/audit").text


def test_clashes_are_warned_of_not_refused(organiser_client, conference, add_session, sessions):
    add_session(conference, "panel-a", 0, 1, room="Room 2", speakers=["tan-ah-kow"])
    add_session(conference, "panel-b", 3, 1, room="Room 3")
    edit = f"{timetable(conference)}/panel-b/edit"
    response = post(organiser_client, edit, edit_form(session_row(sessions, conference, "panel-b"), starts_at=local(conference.starts_at + timedelta(minutes=30)),
                    ends_at=local(conference.starts_at + timedelta(minutes=90)), room="room 2", speakers="tan-ah-kow"), token_from=edit)
    assert response.status_code == 303
    after = organiser_client.get(response.headers["location"]).text
    assert "Warning: Panel A is used twice at once" not in after  # the room is named, not the session
    assert "Warning: Room 2 is used twice at once: Panel A and Panel B." in after
    assert "Warning: Dr Tan Ah Kow is in two places at once: Panel A and Panel B." in after
    listing = organiser_client.get(timetable(conference)).text
    assert "2 clashes to check" in listing and "warnings, not errors" in listing
    assert session_row(sessions, conference, "panel-b").room == "room 2"


def test_an_unknown_session_or_event_is_404(organiser_client, conference):
    assert organiser_client.get(f"{timetable(conference)}/nope/edit").status_code == 404
    assert organiser_client.get("/admin/events/nope/sessions").status_code == 404


def test_the_pages_need_a_signed_in_organiser(client, conference, add_session):
    add_session(conference, "talk")
    for path in (timetable(conference), f"{timetable(conference)}/new", f"{timetable(conference)}/talk", "/admin/speakers"):
        response = client.get(path)
        assert response.status_code == 303 and "/admin/sign-in" in response.headers["location"]
    assert client.get(f"{timetable(conference)}/talk/export.csv").status_code == 401


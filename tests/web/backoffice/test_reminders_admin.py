"""Reminders, the follow-up and the re-announcement in the back office: the event form's
reminders, the follow-up page, and the event page's schedule and "Announce again" button."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.catalogue import editing
from portal.db import utcnow
from portal.models import AuditEntry, Event, Mailing, MailingKind
from portal.models import RegistrationStatus as S
from tests.conftest import BASE_URL
from tests.web.backoffice.conftest import post, sign_in
from tests.web.backoffice.test_events_admin import form_of

SGT = ZoneInfo("Asia/Singapore")
FOLLOWUP = {"after": "P1D", "subject": "Slides from {event}", "body": "Dear {name},\n\nThe slides are at https://example.org/s."}


def stored(sessions, slug):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(Event).where(Event.slug == slug))


def audit(sessions, action):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def mailings(sessions, key):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Mailing).where(Mailing.key == key)))


# --- the event form's reminders ----------------------------------------------------------------


def test_the_form_names_the_site_default_and_shows_an_event_own(organiser_client, make_event):
    plain = organiser_client.get(f"/admin/events/{make_event().slug}/edit").text
    assert "Use the site&#39;s default (2 days before the start)" in plain
    assert _checked(plain, "default") and not _checked(plain, "own")
    own = organiser_client.get(f"/admin/events/{make_event(reminders=['P2D', 'PT2H']).slug}/edit").text
    assert _checked(own, "own") and 'value="P2D, PT2H"' in own


def _checked(html: str, value: str) -> bool:
    """Whether the reminders radio button with this value is checked."""
    for tag in re.findall(r"<input[^>]*name=\"reminders_choice\"[^>]*>", html):
        if f'value="{value}"' in tag:
            return "checked" in tag
    raise AssertionError(f"no reminders_choice radio button with value {value}")


def test_a_different_site_default_is_named(settings, organiser):
    app = create_app(dataclasses.replace(settings, reminders=("P1D", "PT3H")))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        assert sign_in(client, organiser.email).status_code == 303
        page = client.get("/admin/events/new").text
    assert "Use the site&#39;s default (1 day and 3 hours before the start)" in page
    assert _checked(page, "default")


def test_saving_without_the_reminder_fields_keeps_them(organiser_client, make_event, sessions):
    # An older page (or one of the many tests that post the form without them) says nothing
    # of reminders: the event keeps its own.
    event = make_event(reminders=["P3D"])
    edit = f"/admin/events/{event.slug}/edit"
    assert post(organiser_client, edit, form_of(event, title="Renamed"), token_from=edit).status_code == 303
    assert stored(sessions, event.slug).reminders == ["P3D"]


@pytest.mark.parametrize(("choice", "typed", "expected"), [
    ("own", "2 days, 2 hours", ["P2D", "PT2H"]),
    ("own", "PT2H and P1W", ["P7D", "PT2H"]),
    ("own", "", []),
    ("default", "", None),
])
def test_set_clear_and_go_back_to_the_default(organiser_client, make_event, sessions, choice, typed, expected):
    event = make_event(reminders=["P3D"])
    edit = f"/admin/events/{event.slug}/edit"
    response = post(organiser_client, edit, form_of(event, reminders_choice=choice, reminders=typed), token_from=edit)
    assert response.status_code == 303, response.text[:500]
    assert stored(sessions, event.slug).reminders == expected
    [entry] = audit(sessions, "event.update")
    assert entry.before == {"reminders": ["P3D"]} and entry.after == {"reminders": expected}


def test_the_page_as_it_comes_saves_the_reminders_as_they_were(organiser_client, make_event, sessions):
    event = make_event(reminders=["P2D", "PT2H"])
    edit = f"/admin/events/{event.slug}/edit"
    response = post(organiser_client, edit, form_of(event, reminders_choice="own", reminders="P2D, PT2H"), token_from=edit)
    assert response.status_code == 303
    assert stored(sessions, event.slug).reminders == ["P2D", "PT2H"]
    assert audit(sessions, "event.update") == []  # nothing changed


@pytest.mark.parametrize(("choice", "typed", "message"), [
    ("own", "P2D, 3 months", "&#39;3 months&#39;: months and years have no fixed length"),
    ("own", "P2D, 48 hours", "&#39;48 hours&#39; is there twice (&#39;P2D&#39; is the same time)"),
    ("own", "P100D", "&#39;P100D&#39; is more than 90 days"),
    ("own", "soon", "&#39;soon&#39; is not a duration"),
    ("default", "P1D", "You chose the site&#39;s default and also typed reminders"),
])
def test_a_bad_reminder_is_refused_keeping_what_was_typed(organiser_client, make_event, sessions, choice, typed, message):
    event = make_event(reminders=["P3D"])
    edit = f"/admin/events/{event.slug}/edit"
    response = post(organiser_client, edit, form_of(event, reminders_choice=choice, reminders=typed, title="Renamed"), token_from=edit)
    assert response.status_code == 422
    assert message in response.text
    assert f'value="{typed}"' in response.text and _checked(response.text, choice)
    after = stored(sessions, event.slug)
    assert after.reminders == ["P3D"] and after.title == event.title


def test_a_new_event_takes_its_reminders(organiser_client, sessions):
    from tests.web.backoffice.test_events_admin import NEW

    page = "/admin/events/new"
    response = post(organiser_client, page, dict(NEW, reminders_choice="own", reminders="1 day 12 hours"), token_from=page)
    assert response.status_code == 303
    assert stored(sessions, NEW["slug"]).reminders == ["P1DT12H"]


def test_a_duplicate_keeps_the_reminders_and_the_followup(run, make_event, sessions):
    event = make_event(reminders=["P2D", "PT2H"], followup=FOLLOWUP)
    run(editing.duplicate_event, None, event.slug, "next-run", "Next run", event.starts_at + timedelta(days=7))
    copy = stored(sessions, "next-run")
    assert (copy.reminders, copy.followup) == (["P2D", "PT2H"], FOLLOWUP)
    default = make_event()
    again = run(editing.duplicate_event, None, default.slug, "default-run", "Default run", default.starts_at + timedelta(days=7))
    assert (stored(sessions, again.slug).reminders, stored(sessions, again.slug).followup) == (None, None)


# --- the event page -------------------------------------------------------------------------------


def test_the_event_page_says_when_the_reminders_go_out(organiser_client, make_event):
    start = datetime(2031, 3, 8, 9, 0, tzinfo=SGT)
    event = make_event(starts_at=start, ends_at=start + timedelta(hours=8), reminders=["P2D", "PT2H"])
    page = organiser_client.get(f"/admin/events/{event.slug}").text
    assert "2 days and 2 hours before the start." in page
    assert "2 days before: <time" in page and "Thu 6 Mar 2031, 09:00 (Asia/Singapore, UTC+08)" in page
    assert "2 hours before: <time" in page and "Sat 8 Mar 2031, 07:00 (Asia/Singapore, UTC+08)" in page
    assert f'href="http://testserver/admin/events/{event.slug}/followup">Set a follow-up' in page
    default = organiser_client.get(f"/admin/events/{make_event(starts_at=start, ends_at=start + timedelta(hours=1)).slug}").text
    assert "2 days before the start (the site's default)." in default
    none = organiser_client.get(f"/admin/events/{make_event(reminders=[]).slug}").text
    assert "<strong>Reminders:</strong> no reminders." in none


# --- the follow-up page -------------------------------------------------------------------------


def test_set_change_and_remove_the_followup(organiser_client, make_event, make_registration, sessions):
    event = make_event()
    make_registration(event)
    make_registration(event, checked_in_at=utcnow())
    page = f"/admin/events/{event.slug}/followup"
    shown = organiser_client.get(page).text
    assert "This event has no follow-up" in shown and "1 person checked in" in shown
    assert "<code>{manage_url}</code>" in shown  # the placeholders are listed

    saved = post(organiser_client, page, {"after": "1 day", "subject": FOLLOWUP["subject"], "body": FOLLOWUP["body"]}, token_from=page)
    assert saved.status_code == 303 and saved.headers["location"] == f"http://testserver/admin/events/{event.slug}"
    assert stored(sessions, event.slug).followup == FOLLOWUP
    [entry] = audit(sessions, "event.followup")
    assert entry.after["follow_up_subject"] == FOLLOWUP["subject"] and entry.after["follow_up_after"] == "P1D"
    due = (event.ends_at + timedelta(days=1)).astimezone(SGT).strftime("%a %-d %b %Y, %H:%M")
    event_page = organiser_client.get(saved.headers["location"]).text
    assert "“Slides from {event}”, goes out <time" in event_page and due in event_page

    changed = post(organiser_client, page, dict(FOLLOWUP, after="PT12H"), token_from=page)
    assert changed.status_code == 303 and stored(sessions, event.slug).followup["after"] == "PT12H"
    assert 'value="PT12H"' in organiser_client.get(page).text

    removed = post(organiser_client, f"{page}/remove", token_from=page)
    assert removed.status_code == 303 and stored(sessions, event.slug).followup is None
    assert len(audit(sessions, "event.followup_remove")) == 1


def test_no_one_checked_in_means_every_confirmed_registrant(organiser_client, make_event, make_registration):
    event = make_event()
    for status in (S.CONFIRMED, S.CONFIRMED, S.WAITLISTED, S.CANCELLED):
        make_registration(event, status=status)
    shown = organiser_client.get(f"/admin/events/{event.slug}/followup").text
    assert "No one is checked in yet, so now it would go to <strong>2 confirmed registrants</strong>" in shown


@pytest.mark.parametrize(("changes", "message"), [
    ({"body": "Dear {nmae}, thanks."}, "Unknown placeholder {nmae}."),
    ({"subject": "About {evnt} and {x}"}, "Unknown placeholders {evnt}, {x}."),
    ({"after": "3 months"}, "months and years have no fixed length"),
    ({"after": "P91D"}, "more than 90 days"),
    ({"subject": "  "}, "Write a subject."),
])
def test_a_bad_followup_is_refused_keeping_what_was_typed(organiser_client, make_event, sessions, changes, message):
    event = make_event()
    page = f"/admin/events/{event.slug}/followup"
    typed = dict(FOLLOWUP, **changes)
    response = post(organiser_client, page, typed, token_from=page)
    assert response.status_code == 422
    assert message in response.text
    # What was typed is there to correct.
    assert typed["body"] in response.text and f'value="{typed["after"]}"' in response.text
    assert stored(sessions, event.slug).followup is None and audit(sessions, "event.followup") == []


def test_a_followup_that_went_out_is_shown_and_locked(organiser_client, make_event, run, sessions):
    event = make_event(followup=FOLLOWUP)
    finished = utcnow().replace(microsecond=0)
    run(lambda session: session.add(Mailing(
        key=f"followup:{event.id}", kind=MailingKind.FOLLOWUP, event_id=event.id, queued=3, finished_at=finished,
    )))
    page = f"/admin/events/{event.slug}/followup"
    shown = organiser_client.get(page).text
    assert "<strong>Sent</strong>" in shown and finished.astimezone(SGT).strftime("%a %-d %b %Y, %H:%M") in shown
    assert "to 3 people" in shown and "can no longer change" in shown
    assert 'name="subject"' not in shown and "Remove the follow-up" not in shown
    refused = post(organiser_client, page, dict(FOLLOWUP, subject="Changed"), token_from=page)
    assert refused.status_code == 409 and "gone out already" in refused.text
    removal = post(organiser_client, f"{page}/remove", token_from=page)
    assert "gone out already" in organiser_client.get(removal.headers["location"]).text
    assert stored(sessions, event.slug).followup == FOLLOWUP
    assert "“Slides from {event}”, sent <time" in organiser_client.get(f"/admin/events/{event.slug}").text


def test_the_followup_forms_need_the_csrf_token(organiser_client, make_event, sessions):
    event = make_event(followup=FOLLOWUP)
    page = f"/admin/events/{event.slug}/followup"
    organiser_client.get(page)
    assert organiser_client.post(page, data=dict(FOLLOWUP, subject="Forged")).status_code == 403
    assert organiser_client.post(f"{page}/remove").status_code == 403
    assert stored(sessions, event.slug).followup == FOLLOWUP


# --- announcing again ---------------------------------------------------------------------------


def announced(run, event):  # type: ignore[no-untyped-def]
    run(lambda session: session.add(Mailing(key=f"announce:{event.id}", kind=MailingKind.ANNOUNCE, event_id=event.id)))


def test_announce_again_once(organiser_client, make_event, run, sessions):
    event = make_event()
    page = f"/admin/events/{event.slug}"
    assert "Announce again to subscribers" not in organiser_client.get(page).text  # never announced
    announced(run, event)
    assert "Announce again to subscribers" in organiser_client.get(page).text

    response = post(organiser_client, f"{page}/announce-again", token_from=page)
    assert response.status_code == 303 and response.headers["location"] == f"http://testserver{page}"
    after = organiser_client.get(page).text
    assert "being announced again to its subscribers" in after
    assert "Announce again to subscribers" not in after and "Announced again to subscribers <time" in after
    [mailing] = mailings(sessions, f"reannounce:{event.id}")
    assert mailing.kind == MailingKind.ANNOUNCE and mailing.event_id == event.id
    assert len(audit(sessions, "event.reannounce")) == 1

    twice = post(organiser_client, f"{page}/announce-again", token_from=page)
    assert "cannot be announced again" in organiser_client.get(twice.headers["location"]).text
    assert len(mailings(sessions, f"reannounce:{event.id}")) == 1 and len(audit(sessions, "event.reannounce")) == 1


def test_announce_again_needs_a_published_event_and_the_csrf_token(organiser_client, make_event, run, sessions):
    draft = make_event(status="draft", published_at=None)
    announced(run, draft)
    page = f"/admin/events/{draft.slug}"
    assert "Announce again to subscribers" not in organiser_client.get(page).text
    refused = post(organiser_client, f"{page}/announce-again", token_from=page)
    assert "cannot be announced again" in organiser_client.get(refused.headers["location"]).text

    event = make_event()
    announced(run, event)
    organiser_client.get(f"/admin/events/{event.slug}")
    assert organiser_client.post(f"/admin/events/{event.slug}/announce-again").status_code == 403
    assert mailings(sessions, f"reannounce:{draft.id}") == mailings(sessions, f"reannounce:{event.id}") == []


def test_a_followup_whose_time_has_passed_says_so(organiser_client, make_event):
    start = utcnow() - timedelta(days=3)
    past = make_event(starts_at=start, ends_at=start + timedelta(hours=2), followup=FOLLOWUP)
    assert "That time has passed" in organiser_client.get(f"/admin/events/{past.slug}/followup").text
    assert "That time has passed" not in organiser_client.get(f"/admin/events/{make_event(followup=FOLLOWUP).slug}/followup").text
    long_ago = utcnow() - timedelta(days=40)
    stale = make_event(starts_at=long_ago, ends_at=long_ago + timedelta(hours=2), followup=FOLLOWUP)
    assert "more than 30 days ago, so it will not be sent" in organiser_client.get(f"/admin/events/{stale.slug}/followup").text

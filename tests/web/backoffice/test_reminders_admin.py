"""Reminders, the follow-up and the re-announcement in the back office: the event form's
reminders (the site's default, none, or its own), the event page's schedule and whether each
reminder and the follow-up went and to how many, the follow-up page (a confirmation before
one whose time has passed goes out, a test to oneself), and announcing again after a page
that says how many subscribers it reaches."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.catalogue import editing
from portal.db import utcnow
from portal.mail.planner import plan_followups
from portal.models import AuditEntry, Event, Frequency, Mailing, MailingKind, Registration
from portal.models import RegistrationStatus as S
from portal.rosters.messages import SAMPLE_TOKEN
from tests.conftest import BASE_URL
from tests.mailings import conftest as mailing_fixtures
from tests.web.backoffice.conftest import post, sign_in
from tests.web.backoffice.test_events_admin import form_of

SGT = ZoneInfo("Asia/Singapore")
FOLLOWUP = {"after": "P1D", "subject": "Slides from {event}", "body": "Dear {name},\n\nThe slides are at https://example.org/s."}

# The mailings' fixtures: subscribers, a fan-out, the outbox (conftest files of sibling folders do
# not reach here).
make_subscriber, fan_out, queued = mailing_fixtures.make_subscriber, mailing_fixtures.fan_out, mailing_fixtures.queued


def stored(sessions, slug):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(Event).where(Event.slug == slug))


def audit(sessions, action):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def mailings(sessions, key):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Mailing).where(Mailing.key == key)))


def hidden_fields(page: str, heading: str) -> dict[str, str]:
    """The hidden fields of the first form after `heading`, as a browser sends them back."""
    part = page[page.index(heading):]
    form = part[part.index("<form"):part.index("</form>")]
    found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
    return {name: html.unescape(value) for name, value in found if name != "csrf_token"}


# --- the event form's reminders ----------------------------------------------------------------


def test_the_form_names_the_site_default_and_shows_an_event_own(organiser_client, make_event):
    plain = organiser_client.get(f"/admin/events/{make_event().slug}/edit").text
    assert "Use the site&#39;s default (2 days before the start)" in plain
    assert _checked(plain, "default") and not _checked(plain, "own") and not _checked(plain, "none")
    own = organiser_client.get(f"/admin/events/{make_event(reminders=['P2D', 'PT2H']).slug}/edit").text
    assert _checked(own, "own") and 'value="P2D, PT2H"' in own


def test_no_reminders_is_a_choice_of_its_own(organiser_client, make_event):
    page = organiser_client.get(f"/admin/events/{make_event(reminders=[]).slug}/edit").text
    assert re.search(r'value="none"[^>]*>\s*No reminders</label>', page)
    assert _checked(page, "none") and not _checked(page, "own") and not _checked(page, "default")


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
    ("none", "", []),
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
    ("default", "P1D", "You chose “Use the site’s default” and also typed reminders: to send these, choose “These reminders:”"),
    ("none", "P1D", "You chose “No reminders” and also typed reminders: to send these, choose “These reminders:”; for none, empty the box."),
    ("own", "", "You chose “These reminders:” but typed none: type them (e.g. 2 days, 2 hours), or choose “No reminders” to send none."),
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


def _mailing(run, key, event, **values):  # type: ignore[no-untyped-def]
    run(lambda session: session.add(Mailing(key=key, kind=values.pop("kind", MailingKind.REMINDER), event_id=event.id, **values)))


def _reminder_line(page: str, words: str) -> str:
    """The text of the schedule's line for the reminder `words` before, tags removed."""
    (line,) = [li for li in re.findall(r"<li>(.*?)</li>", page, re.DOTALL) if li.startswith(f"{words} before")]
    return " ".join(re.sub(r"<[^>]+>", "", line).split())


def test_the_event_page_says_whether_each_reminder_went_and_to_how_many(organiser_client, make_event, run):
    start = (utcnow() + timedelta(hours=20)).replace(microsecond=0)
    event = make_event(starts_at=start, ends_at=start + timedelta(hours=2), reminders=["P3D", "P2D", "P1D", "PT2H"])
    sent_at = datetime(2026, 12, 7, 4, 59, tzinfo=ZoneInfo("UTC"))
    _mailing(run, f"reminder:{event.id}:P3D", event, queued=25, finished_at=sent_at)
    # Sent again after the event was postponed: the key ends with the new start.
    _mailing(run, f"reminder:{event.id}:P3D:20310101T000000Z", event, queued=4, finished_at=sent_at + timedelta(days=1))
    # Another offset that begins with the same characters is another reminder, no longer in the schedule.
    _mailing(run, f"reminder:{event.id}:P3DT12H", event, queued=9, finished_at=sent_at)
    _mailing(run, f"reminder:{event.id}:P2D", event, queued=3)
    _mailing(run, f"reminder:{event.id}:P1D", event, queued=0, finished_at=sent_at, note="the event had started")
    # Another event's reminder is not this one's.
    other = make_event()
    _mailing(run, f"reminder:{other.id}:PT2H", other, queued=50, finished_at=sent_at)

    page = organiser_client.get(f"/admin/events/{event.slug}").text
    assert "that time has passed" not in page
    assert _reminder_line(page, "3 days") == (
        f"3 days before: {(start - timedelta(days=3)).astimezone(SGT):%a %-d %b %Y, %H:%M} (Asia/Singapore, UTC+08) · "
        "sent 7 Dec 2026, 12:59 (Asia/Singapore, UTC+08) to 25 people; "
        "after the event moved, sent 8 Dec 2026, 12:59 (Asia/Singapore, UTC+08) to 4 people"
    )
    assert _reminder_line(page, "3 days 12 hours").endswith(
        "(no longer in the schedule) · sent 7 Dec 2026, 12:59 (Asia/Singapore, UTC+08) to 9 people"
    )
    assert _reminder_line(page, "2 days").endswith("· going out now (3 written so far)")
    assert _reminder_line(page, "1 day").endswith("· not sent: the event had started")
    assert _reminder_line(page, "2 hours").endswith("(Asia/Singapore, UTC+08)")  # still to come: its time alone


def test_a_reminder_that_found_no_one_registered_says_it_was_not_sent(organiser_client, make_event, run):
    start = (utcnow() + timedelta(hours=20)).replace(microsecond=0)
    event = make_event(starts_at=start, ends_at=start + timedelta(hours=2), reminders=["P2D"])
    _mailing(run, f"reminder:{event.id}:P2D", event, queued=0, finished_at=utcnow() - timedelta(days=1))
    line = _reminder_line(organiser_client.get(f"/admin/events/{event.slug}").text, "2 days")
    assert line.endswith("· not sent: no one was registered before its time")
    assert "to 0 people" not in line


def test_a_reminder_whose_time_passed_without_a_mailing_says_what_happens(organiser_client, make_event):
    soon = (utcnow() + timedelta(hours=20)).replace(microsecond=0)
    due = make_event(starts_at=soon, ends_at=soon + timedelta(hours=2), reminders=["P2D"])
    assert _reminder_line(organiser_client.get(f"/admin/events/{due.slug}").text, "2 days").endswith(
        "· due now: it goes out within a minute"
    )
    begun = utcnow().replace(microsecond=0) - timedelta(hours=1)
    started = make_event(starts_at=begun, ends_at=begun + timedelta(hours=3), reminders=["P2D"])
    assert _reminder_line(organiser_client.get(f"/admin/events/{started.slug}").text, "2 days").endswith(
        "· not sent: the event had started before it could go"
    )
    cancelled = make_event(starts_at=soon, ends_at=soon + timedelta(hours=2), reminders=["P2D", "PT2H"], status="cancelled")
    page = organiser_client.get(f"/admin/events/{cancelled.slug}").text
    assert _reminder_line(page, "2 hours").endswith("· not sent: the event is cancelled")
    assert "The event is cancelled: no more reminders are sent." in page


def test_the_event_page_says_when_and_to_how_many_the_followup_went(organiser_client, make_event, run):
    event = make_event(followup=FOLLOWUP)
    page = f"/admin/events/{event.slug}"
    _mailing(run, f"followup:{event.id}", event, kind=MailingKind.FOLLOWUP, queued=2)
    assert "“Slides from {event}”, going out now (2 written so far)." in organiser_client.get(page).text
    run(lambda session: setattr(session.scalar(select(Mailing).where(Mailing.key == f"followup:{event.id}")), "finished_at",
                                datetime(2026, 12, 7, 4, 59, tzinfo=ZoneInfo("UTC"))))
    shown = " ".join(re.sub(r"<[^>]+>", "", organiser_client.get(page).text).split())
    assert "“Slides from {event}”, sent 7 Dec 2026, 12:59 (Asia/Singapore, UTC+08) to 2 people." in shown


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


def test_a_followup_that_went_out_is_shown_and_locked(organiser_client, make_event, make_registration, run, sessions):
    event = make_event(followup=FOLLOWUP)
    for _ in range(5):  # more confirmed now than it went to: the page says what it went to
        make_registration(event)
    finished = utcnow().replace(microsecond=0)
    run(lambda session: session.add(Mailing(
        key=f"followup:{event.id}", kind=MailingKind.FOLLOWUP, event_id=event.id, queued=3, finished_at=finished,
    )))
    page = f"/admin/events/{event.slug}/followup"
    shown = organiser_client.get(page).text
    assert "<strong>Sent</strong>" in shown and finished.astimezone(SGT).strftime("%a %-d %b %Y, %H:%M") in shown
    assert "to 3 people" in shown and "can no longer change" in shown
    # Nothing of whom it "would" go to now: that no longer happens.
    assert "would go to" not in shown and "would be" not in shown and "5 confirmed" not in shown
    assert "Send a test to me" not in shown
    assert 'name="subject"' not in shown and "Remove the follow-up" not in shown
    refused = post(organiser_client, page, dict(FOLLOWUP, subject="Changed"), token_from=page)
    assert refused.status_code == 409 and "gone out already" in refused.text
    removal = post(organiser_client, f"{page}/remove", token_from=page)
    assert "gone out already" in organiser_client.get(removal.headers["location"]).text
    assert stored(sessions, event.slug).followup == FOLLOWUP
    event_page = organiser_client.get(f"/admin/events/{event.slug}").text
    assert "“Slides from {event}”, sent <time" in event_page and "</time> to 3 people." in event_page


def test_the_followup_forms_need_the_csrf_token(organiser_client, make_event, sessions):
    event = make_event(followup=FOLLOWUP)
    page = f"/admin/events/{event.slug}/followup"
    organiser_client.get(page)
    assert organiser_client.post(page, data=dict(FOLLOWUP, subject="Forged")).status_code == 403
    assert organiser_client.post(f"{page}/remove").status_code == 403
    assert stored(sessions, event.slug).followup == FOLLOWUP


# --- announcing again ---------------------------------------------------------------------------


def announced(run, event):  # type: ignore[no-untyped-def]
    """The event's first announcement, made and fanned out when it was published."""
    run(lambda session: session.add(Mailing(key=f"announce:{event.id}", kind=MailingKind.ANNOUNCE, event_id=event.id, finished_at=utcnow())))


def test_announce_again_once(organiser_client, make_event, run, sessions):
    event = make_event()
    page = f"/admin/events/{event.slug}"
    assert "Announce again to subscribers" not in organiser_client.get(page).text  # never announced
    announced(run, event)
    shown = organiser_client.get(page).text
    # A link to the page that asks first, not a button that announces at once.
    assert f'<a href="http://testserver{page}/announce-again">Announce again to subscribers…</a>' in shown
    assert f'action="http://testserver{page}/announce-again"' not in shown

    response = post(organiser_client, f"{page}/announce-again", token_from=f"{page}/announce-again")
    assert response.status_code == 303 and response.headers["location"] == f"http://testserver{page}"
    after = organiser_client.get(page).text
    assert "being announced again to its subscribers" in after
    assert "Announce again to subscribers" not in after and "Announced again to subscribers <time" in after
    [mailing] = mailings(sessions, f"reannounce:{event.id}")
    assert mailing.kind == MailingKind.ANNOUNCE and mailing.event_id == event.id
    assert len(audit(sessions, "event.reannounce")) == 1

    again = organiser_client.get(f"{page}/announce-again")
    assert again.status_code == 200 and "announced again already" in again.text and "<button" not in again.text.split("<main")[1]
    twice = post(organiser_client, f"{page}/announce-again", token_from=page)
    assert "cannot be announced again" in organiser_client.get(twice.headers["location"]).text
    assert len(mailings(sessions, f"reannounce:{event.id}")) == 1 and len(audit(sessions, "event.reannounce")) == 1


def test_announce_again_needs_a_published_event_and_the_csrf_token(organiser_client, make_event, run, sessions):
    draft = make_event(status="draft", published_at=None)
    announced(run, draft)
    page = f"/admin/events/{draft.slug}"
    assert "Announce again to subscribers" not in organiser_client.get(page).text
    cannot = organiser_client.get(f"{page}/announce-again").text
    assert "This event cannot be announced again" in cannot and "Announce it again" not in cannot
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


def test_announcing_again_asks_first_saying_how_many_subscribers_it_reaches(
    organiser_client, make_event, make_programme, make_subscriber, run, sessions, fan_out, queued,
):
    tatc = make_programme(code="tatc")
    make_programme(code="iccs")
    event = make_event(programme_id=tatc.id, category="course")
    announced(run, event)
    make_subscriber()  # every event
    make_subscriber(programmes=["tatc"])
    make_subscriber(programmes=["iccs", "tatc"], categories=["course", "seminar"])
    make_subscriber(programmes=["iccs"])  # another programme
    make_subscriber(categories=["seminar"])  # another category
    make_subscriber(confirmed_at=None)  # never confirmed
    make_subscriber(frequency=Frequency.WEEKLY, categories=["course"])  # the digest instead
    make_subscriber(frequency=Frequency.WEEKLY, programmes=["iccs"])
    page = f"/admin/events/{event.slug}/announce-again"

    asked = organiser_client.get(page)
    assert asked.status_code == 200
    assert "this can be done only once" in asked.text
    assert "Now it would email <strong>3 subscribers</strong>" in asked.text
    assert "Those who take the weekly digest instead (1 subscriber) would find it in their next digest." in asked.text
    assert ">Announce it again to 3 subscribers</button>" in asked.text and f'<form method="post" action="http://testserver{page}"' in asked.text
    assert mailings(sessions, f"reannounce:{event.id}") == [] and audit(sessions, "event.reannounce") == []  # a GET changes nothing

    assert post(organiser_client, page, token_from=page).status_code == 303
    [entry] = audit(sessions, "event.reannounce")
    assert entry.after == {"announced_again": True, "subscribers": 3, "digest_subscribers": 1}
    # The number the page gave is the number the worker's fan-out reaches.
    fan_out()
    assert len(queued("announcement")) == 3


def test_an_event_outside_any_programme_reaches_only_those_who_chose_no_programme(
    organiser_client, make_event, make_programme, make_subscriber, run, fan_out, queued,
):
    make_programme(code="tatc")
    event = make_event(category="book-launch")
    announced(run, event)
    make_subscriber()
    make_subscriber(categories=["book-launch"])
    make_subscriber(programmes=["tatc"])  # ticked a programme: a standalone event is not in it
    make_subscriber(programmes=["tatc"], categories=["book-launch"])
    page = f"/admin/events/{event.slug}/announce-again"
    assert "Now it would email <strong>2 subscribers</strong>" in organiser_client.get(page).text
    post(organiser_client, page, token_from=page)
    fan_out()
    assert len(queued("announcement")) == 2


# --- a follow-up whose time has passed, and a test of it -----------------------------------------


def _ended(make_event, ago=timedelta(hours=3), **values):  # type: ignore[no-untyped-def]
    end = utcnow().replace(microsecond=0) - ago
    return make_event(starts_at=end - timedelta(hours=2), ends_at=end, **values)


TYPED = {"after": "1 hour", "subject": FOLLOWUP["subject"], "body": FOLLOWUP["body"] + "\n\n<Thanks & see you>"}


def test_saving_a_followup_whose_time_has_passed_asks_before_it_sends(organiser_client, make_event, make_registration, run, sessions):
    event = _ended(make_event)
    make_registration(event)
    make_registration(event)
    make_registration(event, status=S.WAITLISTED)
    page = f"/admin/events/{event.slug}/followup"

    asked = post(organiser_client, page, TYPED, token_from=page)
    assert asked.status_code == 200
    assert "Send the follow-up now?" in asked.text
    assert "it goes out <strong>within a minute to 2 people</strong>" in asked.text
    assert "every confirmed registrant, as no one was checked in" in asked.text
    assert ">Send it now to 2 people</button>" in asked.text
    # Nothing is saved, so the worker has nothing to send.
    assert stored(sessions, event.slug).followup is None and audit(sessions, "event.followup") == []
    assert run(plan_followups, utcnow()) == 0
    # What was typed is on the page to change, and in the confirmation as it was typed.
    assert 'value="1 hour"' in asked.text
    confirmation = hidden_fields(asked.text, "Send the follow-up now?")
    assert confirmation == {"after": "1 hour", "subject": TYPED["subject"], "body": TYPED["body"], "action": "save", "confirm": "2"}

    sent = post(organiser_client, page, confirmation, token_from=page)
    assert sent.status_code == 303
    assert stored(sessions, event.slug).followup == {"after": "PT1H", "subject": TYPED["subject"], "body": TYPED["body"]}
    assert "The follow-up is saved. It goes out within a minute to 2 people." in organiser_client.get(sent.headers["location"]).text
    assert len(audit(sessions, "event.followup")) == 1
    assert run(plan_followups, utcnow()) == 1  # the worker's next look sends it


def test_the_confirmation_holds_for_the_number_it_showed(organiser_client, make_event, make_registration, run, sessions):
    event = _ended(make_event)
    make_registration(event)
    late = make_registration(event)
    page = f"/admin/events/{event.slug}/followup"
    confirmation = hidden_fields(post(organiser_client, page, TYPED, token_from=page).text, "Send the follow-up now?")
    assert confirmation["confirm"] == "2"
    # Someone is checked in meanwhile: now it goes to those checked in, one person.
    run(lambda session: setattr(session.get(Registration, late.id), "checked_in_at", utcnow()))
    asked = post(organiser_client, page, confirmation, token_from=page)
    assert asked.status_code == 200 and stored(sessions, event.slug).followup is None
    assert "within a minute to 1 person</strong>" in asked.text and "(those checked in)" in asked.text
    assert ">Send it now to 1 person</button>" in asked.text


def test_only_a_followup_that_would_go_out_at_once_asks(organiser_client, make_event, make_registration, sessions):
    # Its time is still to come: saved at once, as ever.
    ended = _ended(make_event)
    make_registration(ended)
    page = f"/admin/events/{ended.slug}/followup"
    assert post(organiser_client, page, dict(TYPED, after="1 day"), token_from=page).status_code == 303
    # So long ago that the worker will not send it: saving sends nothing, so nothing to confirm.
    stale = _ended(make_event, ago=timedelta(days=40))
    make_registration(stale)
    page = f"/admin/events/{stale.slug}/followup"
    assert post(organiser_client, page, TYPED, token_from=page).status_code == 303
    assert "more than 30 days ago, so it will not be sent" in organiser_client.get(page).text
    # With nobody to send to, the page says so, and the button does not speak of sending.
    empty = _ended(make_event)
    page = f"/admin/events/{empty.slug}/followup"
    asked = post(organiser_client, page, TYPED, token_from=page)
    assert "sent to <strong>nobody</strong>" in asked.text and ">Save it anyway</button>" in asked.text
    assert stored(sessions, empty.slug).followup is None
    saved = post(organiser_client, page, hidden_fields(asked.text, "Send the follow-up now?"), token_from=page)
    assert saved.status_code == 303 and stored(sessions, empty.slug).followup is not None
    assert "no one is confirmed, so it goes to nobody" in organiser_client.get(saved.headers["location"]).text


def test_a_test_of_the_followup_goes_to_the_organiser_as_its_first_recipient_gets_it(
    organiser_client, organiser, make_event, make_registration, outbox, sessions,
):
    event = make_event(title="Maritime Security Seminar")
    make_registration(event, name="Ann Early")  # confirmed, but not checked in: not a recipient
    make_registration(event, name="<b>Bo</b> Came", checked_in_at=utcnow())
    make_registration(event, name="Cy Came", checked_in_at=utcnow())
    page = f"/admin/events/{event.slug}/followup"
    assert ">Send a test to me</button>" in organiser_client.get(page).text
    typed = dict(FOLLOWUP, body=FOLLOWUP["body"] + "\n\n[Your registration]({manage_url})", action="test")

    response = post(organiser_client, page, typed, token_from=page)
    assert response.status_code == 200
    assert f"A test is on its way to {organiser.email}, as &lt;b&gt;Bo&lt;/b&gt; Came would get it." in response.text
    (message,) = outbox()
    assert (message.to_address, message.kind) == (organiser.email, "followup_test")
    assert message.subject == "[Test] Slides from Maritime Security Seminar"
    assert "Dear <b>Bo</b> Came," in message.body_text and "Dear &lt;b&gt;Bo&lt;/b&gt; Came," in message.body_html
    # A sample link where the recipient's private one goes, as the messages' test does.
    assert f"/registrations/{SAMPLE_TOKEN}" in message.body_text and f"/registrations/{SAMPLE_TOKEN}" in message.body_html
    with sessions() as session:
        tokens = set(session.scalars(select(Registration.token)))
    assert not any(token in message.body_text + message.body_html for token in tokens)
    # A test saves nothing, and the form keeps what was typed.
    assert stored(sessions, event.slug).followup is None
    assert 'value="Slides from {event}"' in response.text


def test_a_test_needs_someone_to_show_it_as(organiser_client, make_event, make_registration, outbox):
    event = make_event()
    make_registration(event, status=S.WAITLISTED)
    page = f"/admin/events/{event.slug}/followup"
    response = post(organiser_client, page, dict(FOLLOWUP, action="test"), token_from=page)
    assert response.status_code == 422
    assert "Nobody would get the follow-up now (no one is confirmed)" in response.text
    assert outbox() == []
    assert post(organiser_client, page, dict(FOLLOWUP, action="delete"), token_from=page).status_code == 400
    assert post(organiser_client, page, dict(FOLLOWUP, confirm="-1"), token_from=page).status_code == 400

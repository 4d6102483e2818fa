"""Attendance per day in the back office: the door's page for the day that is on, the roster's
days per person, the event page's table per day and its certificate rule, a registration's
days, and the rule in the event form."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.db import utcnow
from portal.models import AuditEntry, Event
from portal.models import RegistrationStatus as S
from portal.registrations.actions import RosterAction as A
from portal.registrations.actions import act_on_registration
from tests.web.backoffice.conftest import post

SGT = ZoneInfo("Asia/Singapore")


def today() -> date:
    return utcnow().astimezone(SGT).date()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=SGT)


def short(day: date) -> str:
    return f"{day:%a %-d %b}"


def text_of(page: str) -> str:
    """The page's text, tags dropped and spaces squeezed, as a reader meets it."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def course(make_event):  # type: ignore[no-untyped-def]
    """Five days in Singapore, today the third."""
    return make_event(
        slug="appsmo-week", title="APPSMO week", starts_at=at(today() - timedelta(days=2), 9),
        ends_at=at(today() + timedelta(days=2), 17), capacity=None,
    )


def check_in(run, site, organiser, person, when):  # type: ignore[no-untyped-def]
    return run(act_on_registration, site, organiser, person.id, A.CHECK_IN, now=when)


# --- the door -----------------------------------------------------------------------------------


def test_the_door_checks_in_for_today_and_shows_earlier_days(organiser_client, organiser, run, site, course, make_registration):
    person = make_registration(course, name="Kofi Mensah", organisation="Ghana Armed Forces")
    yesterday = today() - timedelta(days=1)
    check_in(run, site, organiser, person, at(yesterday, 8, 40))
    door = f"/admin/events/{course.slug}/check-in"
    before = text_of(organiser_client.get(door).text)
    assert "0 of 1 checked in today (day 3 of 5)" in before
    assert f"came {short(yesterday)}; not yet today" in before
    tapped = post(organiser_client, f"/admin/registrations/{person.id}/check-in", {"action": "check_in", "q": ""}, token_from=door)
    assert tapped.status_code == 303
    after = organiser_client.get(door)
    shown = text_of(after.text)
    assert "Checked in: Kofi Mensah." in shown and "1 of 1 checked in today" in shown
    assert re.search(r"checked in today, \d\d:\d\d", shown) and "not yet today" not in shown
    assert 'value="undo_check_in"' in after.text
    # A second tap (another door's page, not yet refreshed) is refused and says why.
    again = post(organiser_client, f"/admin/registrations/{person.id}/check-in", {"action": "check_in", "q": ""}, token_from=door)
    assert "Kofi Mensah is already checked in today." in text_of(organiser_client.get(again.headers["location"]).text)
    undo = post(organiser_client, f"/admin/registrations/{person.id}/check-in", {"action": "undo_check_in", "q": ""}, token_from=door)
    assert "Check-in undone: Kofi Mensah." in text_of(organiser_client.get(undo.headers["location"]).text)
    # Yesterday stays.
    page = text_of(organiser_client.get(door).text)
    assert f"came {short(yesterday)}; not yet today" in page


# --- the roster, the event page, a registration -------------------------------------------------


def test_the_roster_shows_the_days_each_person_attended(organiser_client, organiser, run, site, course, make_registration):
    ana = make_registration(course, name="Ana Lima")
    make_registration(course, name="Ben Never")
    first = today() - timedelta(days=2)
    check_in(run, site, organiser, ana, at(first, 9))
    check_in(run, site, organiser, ana, at(today(), 9))
    page = organiser_client.get(f"/admin/events/{course.slug}")
    assert page.status_code == 200
    row = text_of(re.search(r"<tr>(?:(?!</tr>).)*Ana Lima.*?</tr>", page.text, re.DOTALL).group(0))  # type: ignore[union-attr]
    assert "2 of 5 days" in row
    assert f"{first.day}" in row and f"{today().day}" in row
    ben = text_of(re.search(r"<tr>(?:(?!</tr>).)*Ben Never.*?</tr>", page.text, re.DOTALL).group(0))  # type: ignore[union-attr]
    assert "of 5 days" not in ben
    assert ">Attended" in page.text


def test_a_one_day_event_keeps_its_checked_in_column(organiser_client, organiser, run, site, make_event, make_registration):
    seminar = make_event(starts_at=at(today(), 14), ends_at=at(today(), 16))
    person = make_registration(seminar, name="Ana Lima")
    check_in(run, site, organiser, person, at(today(), 13, 55))
    page = organiser_client.get(f"/admin/events/{seminar.slug}").text
    assert "of 1 days" not in page and ">Attended" not in page
    assert f"{today():%-d %b}, 13:55" in text_of(page)


def test_the_event_page_shows_each_day_and_the_certificate_rule(organiser_client, organiser, run, site, make_event, make_registration):
    course = make_event(
        starts_at=at(today() - timedelta(days=2), 9), ends_at=at(today() + timedelta(days=2), 17), capacity=None,
        certificate_rule={"days": 2},
    )
    people = [make_registration(course, name=f"Person {n}") for n in range(4)]
    make_registration(course, name="Waiting", status=S.WAITLISTED)
    days = [today() - timedelta(days=2) + timedelta(days=n) for n in range(5)]
    for person, came in zip(people, [days[:3], days[:2], days[:1], []], strict=True):
        for day in came:
            check_in(run, site, organiser, person, at(day, 9))
    page = organiser_client.get(f"/admin/events/{course.slug}").text
    section = text_of(page[page.index('id="attendance-heading"'):page.index("</section>", page.index('id="attendance-heading"'))])
    for day, n in zip(days, [3, 2, 1, 0, 0], strict=True):
        assert f"{day:%a %-d %b %Y} {n} of 4 confirmed" in section
    assert "earned by at least 2 of the 5 days" in section
    assert "2 confirmed registrants meet it now" in section
    assert "Change who earns one" in section
    # A check-in shows at once (the page's kept numbers follow the event's check-ins).
    check_in(run, site, organiser, people[2], at(days[2], 10))
    again = text_of(organiser_client.get(f"/admin/events/{course.slug}").text)
    assert f"{days[2]:%a %-d %b %Y} 2 of 4 confirmed" in again and "3 confirmed registrants meet it now" in again


def test_a_registration_lists_its_days(organiser_client, organiser, run, site, course, make_registration):
    person = make_registration(course, name="Ana Lima")
    first = today() - timedelta(days=2)
    check_in(run, site, organiser, person, at(first, 8, 58))
    page = organiser_client.get(f"/admin/registrations/{person.id}").text
    shown = text_of(page)
    assert "Days attended 1 of 5" in shown
    assert f"{first:%a %-d %b %Y} , first checked in 08:58" in shown
    assert f"Check in for {short(today())}" in shown and "Undo check-in" not in shown
    response = post(organiser_client, f"/admin/registrations/{person.id}/action", {"action": "check_in"},
                    token_from=f"/admin/registrations/{person.id}")
    assert response.status_code == 303
    shown = text_of(organiser_client.get(f"/admin/registrations/{person.id}").text)
    assert "Days attended 2 of 5" in shown and f"Undo check-in of {short(today())}" in shown


# --- the rule in the event form ------------------------------------------------------------------


class _Form(HTMLParser):
    """What a browser sends back for the event form as the page shows it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a: dict[str, Any] = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and name != "csrf_token":
            if a.get("type") in ("radio", "checkbox"):
                if "checked" in a:
                    self.data[name] = a.get("value") or "y"
            else:
                self.data[name] = a.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea, self.data[name] = name, ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and ("selected" in a or self._select not in self.data):
            self.data[self._select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        if tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            # A browser drops the one line break that follows <textarea>.
            self.data[self._textarea] += data if self.data[self._textarea] else data.removeprefix("\r").removeprefix("\n")


def as_shown(page: str) -> dict[str, str]:
    parser = _Form()
    parser.feed(page[page.index("<form method=\"post\""):])
    return parser.data


def rule_of(sessions, slug):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return session.scalar(select(Event.certificate_rule).where(Event.slug == slug))


@pytest.mark.parametrize(("choice", "typed", "stored", "words"), [
    ("days", {"certificate_days": "3"}, {"days": 3}, "at least 3 of the 5 days"),
    ("share", {"certificate_share": "80"}, {"share": 0.8}, "at least 80% of the days (4 of 5)"),
    ("share", {"certificate_share": "66.67"}, {"share": 0.6667}, "at least 66.67% of the days (4 of 5)"),
    ("all", {"certificate_days": "2"}, None, "every day (5 of 5)"),  # a box beside another choice is not read
])
def test_the_rule_is_set_in_the_event_form(organiser_client, course, sessions, choice, typed, stored, words):
    edit = f"/admin/events/{course.slug}/edit"
    form = as_shown(organiser_client.get(edit).text)
    assert form["certificate_choice"] == "all"
    response = post(organiser_client, edit, {**form, "certificate_choice": choice, **typed}, token_from=edit)
    assert response.status_code == 303, text_of(response.text)
    assert rule_of(sessions, course.slug) == stored
    assert f"earned by {words}" in text_of(organiser_client.get(f"/admin/events/{course.slug}").text)


@pytest.mark.parametrize(("typed", "message"), [
    ({"certificate_choice": "days", "certificate_days": "6"}, "Enter a number of days from 1 to 5, the number of days the event has."),
    ({"certificate_choice": "days", "certificate_days": "0"}, "Enter a number of days from 1 to 5"),
    ({"certificate_choice": "days", "certificate_days": ""}, "You chose “At least a number of days”: enter how many."),
    ({"certificate_choice": "days", "certificate_days": "two"}, "Enter a whole number of days."),
    ({"certificate_choice": "share", "certificate_share": "150"}, "Enter a share from 1 to 100 per cent."),
    ({"certificate_choice": "share", "certificate_share": "0.5"}, "Enter a share from 1 to 100 per cent."),
    ({"certificate_choice": "share", "certificate_share": "NaN"}, "Enter a share from 1 to 100 per cent."),
    ({"certificate_choice": "share", "certificate_share": "sNaN"}, "Enter a share from 1 to 100 per cent."),
    ({"certificate_choice": "share", "certificate_share": ""}, "You chose “At least a share of the days”: enter the share in per cent."),
    ({"certificate_choice": "share", "certificate_share": "33.333"}, "at most two decimals"),
    ({"certificate_choice": "most"}, "Choose every day, a number of days, or a share of the days."),
])
def test_a_bad_rule_is_refused_keeping_what_was_typed(organiser_client, make_event, sessions, typed, message):
    course = make_event(starts_at=at(date(2027, 3, 8), 9), ends_at=at(date(2027, 3, 12), 17), certificate_rule={"share": 0.8})
    edit = f"/admin/events/{course.slug}/edit"
    form = as_shown(organiser_client.get(edit).text)
    response = post(organiser_client, edit, {**form, **typed, "title": "Renamed"}, token_from=edit)
    assert response.status_code == 422
    assert message in text_of(response.text)
    shown = as_shown(response.text)
    assert shown["title"] == "Renamed"
    for name, value in typed.items():
        if name != "certificate_choice" or value != "most":
            assert shown.get(name, "") == value
    assert rule_of(sessions, course.slug) == {"share": 0.8}


def test_the_box_s_limit_follows_the_days_typed(organiser_client, make_event, sessions):
    course = make_event(starts_at=at(date(2027, 3, 8), 9), ends_at=at(date(2027, 3, 12), 17))
    edit = f"/admin/events/{course.slug}/edit"
    form = as_shown(organiser_client.get(edit).text)
    # Made two days long in the same form: six days are too many, two are fine.
    shorter = {**form, "ends_at": "2027-03-09T17:00", "certificate_choice": "days"}
    refused = post(organiser_client, edit, {**shorter, "certificate_days": "3"}, token_from=edit)
    assert refused.status_code == 422 and "from 1 to 2, the number of days" in text_of(refused.text)
    assert post(organiser_client, edit, {**shorter, "certificate_days": "2"}, token_from=edit).status_code == 303
    assert rule_of(sessions, course.slug) == {"days": 2}


@pytest.mark.parametrize("rule", [{"days": 3}, {"share": 0.8}, {"share": 0.3333}, None])
def test_the_rule_is_kept_when_the_form_is_saved_untouched(organiser_client, make_event, sessions, rule):
    course = make_event(starts_at=at(date(2027, 3, 8), 9), ends_at=at(date(2027, 3, 12), 17), certificate_rule=rule)
    edit = f"/admin/events/{course.slug}/edit"
    form = as_shown(organiser_client.get(edit).text)
    response = post(organiser_client, edit, form, token_from=edit)
    assert response.status_code == 303
    assert "Nothing changed." in text_of(organiser_client.get(response.headers["location"]).text)
    assert rule_of(sessions, course.slug) == rule
    # An older page, without the rule's fields, keeps it too.
    older = {k: v for k, v in form.items() if not k.startswith("certificate_")}
    assert post(organiser_client, edit, {**older, "title": "Renamed"}, token_from=edit).status_code == 303
    assert rule_of(sessions, course.slug) == rule


def test_a_change_of_rule_is_in_the_audit_log(organiser_client, course, sessions):
    edit = f"/admin/events/{course.slug}/edit"
    form = as_shown(organiser_client.get(edit).text)
    post(organiser_client, edit, {**form, "certificate_choice": "days", "certificate_days": "4"}, token_from=edit)
    with sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "event.update")).one()
    assert entry.before == {"certificate_rule": None} and entry.after == {"certificate_rule": {"days": 4}}


def test_a_new_event_starts_with_every_day_and_may_set_a_rule(organiser_client, sessions):
    page = organiser_client.get("/admin/events/new").text
    assert as_shown(page)["certificate_choice"] == "all"
    new = {
        **as_shown(page), "title": "TATC March", "slug": "tatc-2027-03", "category": "course", "timezone": "Asia/Singapore",
        "starts_at": "2027-03-08T09:00", "ends_at": "2027-03-12T17:00", "certificate_choice": "share", "certificate_share": "60",
    }
    response = post(organiser_client, "/admin/events/new", new, token_from="/admin/events/new")
    assert response.status_code == 303
    assert rule_of(sessions, "tatc-2027-03") == {"share": 0.6}

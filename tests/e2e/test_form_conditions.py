"""Conditional questions with JavaScript, in Chromium: a question appears once the answer
that asks for it is chosen, leaves again (disabled, so not sent) when the answer changes, and
the registration keeps only the answers of the questions that applied. The same rule without
JavaScript is tested through the client (tests/web/test_form_questions.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import run_unit_of_work, utcnow
from portal.models import Event, EventStatus, Registration
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from tests.e2e.conftest import DEVICES, LiveSite

pytestmark = pytest.mark.browser

FORM = [
    {"key": "visa", "type": "yesno", "label": "Do you need a visa support letter?", "required": True},
    {"key": "passport", "type": "text", "label": "Passport number", "required": True, "show_if": {"visa": ["yes"]}},
    {"key": "workshop", "type": "choice", "label": "Workshop", "widget": "radio",
     "choices": [{"value": "a", "label": "Workshop A"}, {"value": "b", "label": "Workshop B"}]},
    {"key": "notes", "type": "textarea", "label": "What you will bring to Workshop B", "show_if": {"workshop": ["b"]}},
]


def _event_with_conditions(live: LiveSite, slug: str) -> None:
    def add(session: Session) -> None:
        if session.scalar(select(Event.id).where(Event.slug == slug)) is not None:
            return
        starts = utcnow().replace(microsecond=0) + timedelta(days=40)
        event = Event(
            slug=slug, title="Visa and workshops", category="seminar", starts_at=starts, ends_at=starts + timedelta(hours=2),
            timezone="Asia/Singapore", venue="RSIS", address="", status=EventStatus.PUBLISHED, published_at=utcnow(),
            capacity=50, waitlist=True, description="", speakers=[],
        )
        session.add(event)
        session.flush()
        save_form(session, None, Owner(event_id=event.id), parse_form(FORM))

    run_unit_of_work(live.sessions, add, write=True)


def _answers(live: LiveSite, email: str) -> dict:
    with live.sessions() as session:
        answers = session.scalar(select(Registration.answers).where(Registration.email == email))
    assert answers is not None, f"{email} did not register"
    return dict(answers)


def test_a_conditional_question_appears_after_its_answer_is_chosen(page: Page, live: LiveSite, device: str) -> None:
    slug = f"visa-and-workshops-{device}"
    email = f"conditions-{device}@example.org"
    _event_with_conditions(live, slug)
    page.goto(f"/events/{slug}/register")

    passport = page.get_by_label("Passport number")
    notes = page.get_by_label("What you will bring to Workshop B")
    expect(passport).to_be_hidden()
    expect(notes).to_be_hidden()

    page.get_by_role("radio", name="Yes").check()
    expect(passport).to_be_visible()
    expect(passport).to_be_enabled()
    passport.fill("A1234567")
    page.get_by_role("radio", name="Workshop B").check()
    expect(notes).to_be_visible()
    notes.fill("A case study from the Strait of Malacca.")

    # Changing an answer takes its question away again, disabled so that it is not sent.
    page.get_by_role("radio", name="Workshop A").check()
    expect(notes).to_be_hidden()
    expect(notes).to_be_disabled()

    page.get_by_label("Full name").fill("Siti Rahmah")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    assert _answers(live, email) == {"visa": "yes", "passport": "A1234567", "workshop": "a"}


@pytest.mark.parametrize("device", ["desktop"])
def test_without_javascript_every_question_shows_and_says_when_it_applies(browser: Browser, live: LiveSite, device: str) -> None:
    slug = "visa-and-workshops-no-script"
    _event_with_conditions(live, slug)
    context = browser.new_context(base_url=live.url, java_script_enabled=False, **DEVICES[device])
    try:
        page = context.new_page()
        page.goto(f"/events/{slug}/register")
        expect(page.get_by_label("Passport number")).to_be_visible()
        expect(page.get_by_text("Only if you answered Yes to “Do you need a visa support letter?”.")).to_be_visible()
        page.get_by_role("radio", name="No").check()
        page.get_by_label("Passport number").fill("typed before changing my mind")
        page.get_by_label("Full name").fill("Tran Van An")
        page.get_by_label("Email address").fill("no-script@example.org")
        page.get_by_label("I agree").check()
        page.get_by_role("button", name="Register").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    finally:
        context.close()
    assert _answers(live, "no-script@example.org") == {"visa": "no"}


EVERY_TYPE = [
    *FORM,
    {"type": "heading", "label": "About your work"},
    {"type": "info", "label": "We ask this to plan the sessions."},
    {"key": "rank", "type": "text", "label": "Rank", "required": True, "help": "As on your ID.", "editable": False},
    {"key": "mobile", "type": "phone", "label": "Mobile number"},
    {"key": "years", "type": "number", "label": "Years of service", "min": 0, "max": 60},
    {"key": "arrival", "type": "date", "label": "Arrival date", "min": "2027-03-01", "max": "2027-03-31"},
    {"key": "nationality", "type": "country", "label": "Nationality"},
    {"key": "dinner", "type": "choice", "widget": "select", "label": "Dinner",
     "choices": [{"value": "fish", "label": "Fish", "places": 0}, {"value": "rice", "label": "Rice", "places": 20}]},
    {"key": "topics", "type": "multichoice", "label": "Topics", "max_choices": 2,
     "choices": [{"value": "sea", "label": "Maritime"}, {"value": "cyber", "label": "Cyber", "places": 0}]},
    {"key": "days", "type": "checkbox", "label": "I can attend all five days", "required": True},
    {"key": "cv", "type": "file", "label": "CV", "help": "One page is enough."},
]
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.mark.parametrize("device", ["phone"])
def test_every_question_type_is_accessible_valid_html_and_fits_a_phone(page: Page, live: LiveSite, device: str, tmp_path) -> None:
    import httpx2 as httpx

    from tests.e2e.pages import CSRF
    from tests.e2e.test_accessibility import Audit
    from tests.e2e.test_journeys import assert_fits_the_screen
    from tests.e2e.tools import HtmlCheck

    slug = "every-question-type"

    def add(session: Session) -> None:
        starts = utcnow().replace(microsecond=0) + timedelta(days=40)
        event = Event(
            slug=slug, title="Every question", category="seminar", starts_at=starts, ends_at=starts + timedelta(hours=2),
            timezone="Asia/Singapore", venue="RSIS", address="", status=EventStatus.PUBLISHED, published_at=utcnow(),
            capacity=50, waitlist=True, description="", speakers=[],
        )
        session.add(event)
        session.flush()
        save_form(session, None, Owner(event_id=event.id), parse_form(EVERY_TYPE))

    run_unit_of_work(live.sessions, add, write=True)
    email = "every-type@example.org"
    pages = {}
    with httpx.Client(base_url=live.url, timeout=10) as web:
        form = web.get(f"/events/{slug}/register")
        pages["register"] = form.text
        token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        refused = web.post(f"/events/{slug}/register", data={"csrf_token": token, "name": "", "visa": "yes", "topics": ["cyber"]})
        assert refused.status_code == 422
        pages["register-errors"] = refused.text
        done = web.post(f"/events/{slug}/register", data={
            "csrf_token": token, "name": "Every Type", "email": email, "consent": "y", "visa": "no", "rank": "Major",
            "mobile": "+65 6790 6982", "years": "12", "arrival": "2027-03-08", "nationality": "Malaysia", "dinner": "rice",
            "topics": ["sea"], "days": "y",
        }, files={"cv": ("cv.pdf", PDF, "application/pdf")})
        assert done.status_code == 303, done.text[:3000]
        manage = live.emailed_link(email)
        pages["manage"] = web.get(manage).text
        # The manage page sent back: its list of fixes is checked like the registration page's.
        manage_token = CSRF.search(pages["manage"]).group(1)  # type: ignore[union-attr]
        manage_refused = web.post(manage, data={"csrf_token": manage_token, "name": "", "visa": "no", "days": "y", "years": "61"})
        assert manage_refused.status_code == 422
        pages["manage-errors"] = manage_refused.text
    files = []
    for name, html in pages.items():
        path = tmp_path / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        files.append(path)
    check = HtmlCheck()
    check.start(files)
    try:
        audit = Audit(page, device)
        page.goto(f"/events/{slug}/register")
        assert_fits_the_screen(page, device)
        audit.check("every question type")
        page.get_by_role("button", name="Register").click()
        expect(page.get_by_role("alert")).to_be_visible()
        audit.check("every question type, with errors")
        page.goto(manage)
        expect(page.get_by_text("Major")).to_be_visible()
        assert_fits_the_screen(page, device)
        audit.check("manage page with fixed answers and a file")
        # Sent with a problem, the manage page's summary is announced, focused, and links to the field.
        page.get_by_label("Years of service").fill("61")
        page.get_by_role("button", name="Save my details").click()
        summary = page.get_by_role("alert")
        expect(summary).to_contain_text("Years of service: Enter a whole number from 0 to 60.")
        expect(page.locator("#form-errors")).to_be_focused()
        summary.get_by_role("link", name="Years of service").click()
        expect(page.get_by_label("Years of service")).to_be_focused()
        audit.check("manage page with errors")
        audit.assert_clean()
        errors = check.errors()
        assert not errors, "\n".join(errors)
    finally:
        check.stop()


LIMITED = [
    {"key": "rank", "type": "text", "label": "Rank", "max_length": 10},
    {"key": "bio", "type": "textarea", "label": "Short biography", "max_length": 20},
]


def test_the_browser_stops_at_the_length_the_server_allows(page: Page, live: LiveSite, device: str) -> None:
    slug = f"length-limits-{device}"
    email = f"limits-{device}@example.org"

    def add(session: Session) -> None:
        starts = utcnow().replace(microsecond=0) + timedelta(days=40)
        event = Event(
            slug=slug, title="Length limits", category="seminar", starts_at=starts, ends_at=starts + timedelta(hours=2),
            timezone="Asia/Singapore", venue="RSIS", address="", status=EventStatus.PUBLISHED, published_at=utcnow(),
            capacity=50, waitlist=True, description="", speakers=[],
        )
        session.add(event)
        session.flush()
        save_form(session, None, Owner(event_id=event.id), parse_form(LIMITED))

    run_unit_of_work(live.sessions, add, write=True)
    page.goto(f"/events/{slug}/register")
    rank = page.get_by_label("Rank")
    rank.press_sequentially("Lieutenant Colonel")
    expect(rank).to_have_value("Lieutenant")
    # Four lines: 19 characters as the browser counts them, 22 as it sends them (CR LF).
    bio = page.get_by_label("Short biography")
    bio.press_sequentially("abcd\nabcd\nabcd\nabcd and more")
    expect(bio).to_have_value("abcd\nabcd\nabcd\nabcd ")
    page.get_by_label("Full name").fill("Nguyen Thi Lan")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    assert _answers(live, email) == {"rank": "Lieutenant", "bio": "abcd\nabcd\nabcd\nabcd"}

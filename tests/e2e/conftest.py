"""Browser tests: the real server (`portal serve`) on a free loopback port against a fresh
database, driven by Debian's Chromium through Playwright.

One browser and one server (with its database) for the whole package, as starting them is
most of the cost; a fresh browser context (cookies, viewport) per test. The tests share the
seeded data, so each acts on people of its own (named after its device)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Response, expect, sync_playwright
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.accounts.organisers import add_organiser
from portal.db import make_engine, make_session_factory, run_unit_of_work, utcnow
from portal.documents.tickets import new_code
from portal.models import (
    Admission,
    Event,
    EventStatus,
    OrganiserRole,
    OutboxMessage,
    Programme,
    Registration,
    RegistrationStatus,
    Subscriber,
)
from portal.questions.schema import parse_form
from portal.questions.store import Owner, save_form
from portal.registrations.participants import new_token
from portal.registrations.sealed import store_answers
from portal.sealing import Keyring, new_key
from tests.conftest import fresh_database
from tests.e2e.pages import save_pages
from tests.e2e.tools import HtmlCheck
from tests.servers import free_port, running_portal

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

# The two screens every journey runs on: a common phone, and an ordinary laptop.
DEVICES: dict[str, dict[str, Any]] = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}

# Generous waits, for a machine busy with the rest of the suite; a passing step never waits them out.
expect.set_options(timeout=10_000)

ORGANISER_EMAIL = "organiser@example.org"
ORGANISER_PASSWORD = "correct horse battery staple"
DOOR_EMAIL = "door@example.org"
DOOR_PASSWORD = "door volunteer passphrase"
# An ended event whose form asks a sensitive question, and the registration that answered it
# (its answer sealed with the site's data key): for the reveal and the anonymise pages.
ENDED_EVENT = "ethics-roundtable"
SENSITIVE_EMAIL = "nadia.rahman@example.org"
SENSITIVE_ANSWER = "Halal; allergic to peanuts"


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium (`apt-get install chromium`, as .ci/run does). "
            "Never `playwright install`: it downloads a browser build from outside the package registries."
        )
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(params=sorted(DEVICES))
def device(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def context(browser: Browser, live: LiveSite, device: str) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=live.url, **DEVICES[device])
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab that fails the test on a script error, a console error (a CSP refusal among them) or
    a stylesheet, script or fetch that does not load."""
    tab = context.new_page()
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        # A page answered 4xx (a form sent back with errors) is logged as a failed load; the
        # failures that matter, of subresources, are caught below with their addresses.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            problems.append(f"console error: {msg.text}")

    def on_response(response: Response) -> None:
        request = response.request
        if response.status >= 400 and not request.is_navigation_request() and not request.url.endswith("/favicon.ico"):
            problems.append(f"{request.resource_type} {request.url} answered {response.status}")

    tab.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    tab.on("console", on_console)
    tab.on("response", on_response)
    yield tab
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


# --- the site under test -------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSite:
    url: str
    sessions: sessionmaker[Session]
    open_event: str  # slug of a standalone seminar with open registration
    forum_event: str  # slug of an event admitting by application, with people to decide on
    forum_code: str
    manage_token: str  # a confirmed registration on the open event, for pages that need one
    log: Path

    def emailed_link(self, email: str) -> str:
        """The manage link in the newest email queued for that address, as the participant gets it."""
        with self.sessions() as session:
            body = session.scalars(
                select(OutboxMessage.body_text).where(OutboxMessage.to_address == email.lower()).order_by(OutboxMessage.id.desc())
            ).first()
        assert body is not None, f"no email was queued for {email}"
        match = re.search(re.escape(self.url) + r"/registrations/[A-Za-z0-9_-]{40,}", body)
        assert match, f"the email to {email} has no manage link:\n{body}"
        return match.group(0)


def _seed(session: Session) -> dict[str, str]:
    now = utcnow().replace(microsecond=0)
    forum = Programme(
        code="isf-asia", name="International Strategy Forum-Asia", admission=Admission.APPLICATION,
        summary="Emerging leaders from across the region discuss strategy.",
        description="A forum for **emerging leaders** in strategy and security.",
    )
    session.add(forum)
    session.flush()
    # ISF-Asia's form as migration 0009 writes it for a programme that exists when it runs.
    save_form(session, None, Owner(programme_id=forum.id), parse_form([
        {"key": "position", "type": "text", "label": "Position or job title", "max_length": 200},
        {"key": "statement", "type": "textarea", "label": "Statement of purpose", "required": True,
         "min_length": 50, "max_length": 3000,
         "help": "Why you wish to take part and what you would bring (50 to 3,000 characters)."},
    ]))

    def event(slug: str, title: str, days: int, **values: Any) -> Event:
        starts = now + timedelta(days=days)
        row = Event(
            slug=slug, title=title, category=values.pop("category", "seminar"), starts_at=starts,
            ends_at=starts + timedelta(hours=2), timezone="Asia/Singapore", venue="RSIS, Block S4, Level B3",
            address="50 Nanyang Avenue, Singapore 639798", status=EventStatus.PUBLISHED, published_at=now,
            capacity=values.pop("capacity", 40), waitlist=True, **values,
        )
        session.add(row)
        return row

    seminar = event(
        "maritime-security-seminar", "Maritime Security in the Indo-Pacific", 20,
        description="A seminar on **sea lanes**, ports and the law of the sea.\n\n- Panel\n- Questions",
        speakers=["Dr Lee Wen Hui", "Captain (Retd) Arjun Nair"],
    )
    event("book-launch-cohesion", "Book Launch: Cohesive Societies in Asia", 35, category="book-launch", capacity=None)
    forum_event = event(
        "isf-asia-forum", "International Strategy Forum-Asia", 60, category="forum", capacity=30,
        programme_id=forum.id, all_day=False,
    )
    session.flush()

    def person(ev: Event, name: str, email: str, status: RegistrationStatus, **values: Any) -> Registration:
        row = Registration(
            event_id=ev.id, name=name, email=email, organisation="Ministry of Foreign Affairs",
            answers=values.pop("answers", {}), status=status, token=new_token(), confirmed_at=now if status == RegistrationStatus.CONFIRMED else None,
            # Confirmed people hold a ticket, as the portal gives them on confirming.
            checkin_code=new_code() if status == RegistrationStatus.CONFIRMED else None,
            **values,
        )
        session.add(row)
        return row

    statement = {"statement": "I lead a policy team and would bring the views of a small state to the forum."}
    for device in DEVICES:
        person(forum_event, f"Applicant {device.title()}", f"applicant-{device}@example.org", RegistrationStatus.PENDING, answers=statement)
        person(forum_event, f"Delegate {device.title()}", f"delegate-{device}@example.org", RegistrationStatus.CONFIRMED)
    held = person(seminar, "Tan Mei Ling", "mei.ling@example.org", RegistrationStatus.CONFIRMED)
    # People who erase their data: one for the saved pages, one per device for the browser.
    for who in ("pages", *DEVICES):
        person(seminar, f"Eraser {who.title()}", f"eraser-{who}@example.org", RegistrationStatus.CONFIRMED)
    ended = event(ENDED_EVENT, "Roundtable on Data Ethics", -10, category="roundtable")
    session.flush()
    questions = parse_form([
        {"key": "rank", "type": "text", "label": "Rank"},
        {"key": "diet", "type": "text", "label": "Dietary or medical needs", "sensitive": True},
    ])
    save_form(session, None, Owner(event_id=ended.id), questions)
    store_answers(session, person(ended, "Nadia Rahman", SENSITIVE_EMAIL, RegistrationStatus.CONFIRMED), questions,
                  {"rank": "Colonel", "diet": SENSITIVE_ANSWER})
    session.add(Subscriber(email="subscriber@example.org", token=new_token(), confirmed_at=now))
    add_organiser(session, ORGANISER_EMAIL, ORGANISER_PASSWORD, name="Olivia Organiser", is_admin=True)
    add_organiser(session, DOOR_EMAIL, DOOR_PASSWORD, name="Dara Door", role=OrganiserRole.DOOR)
    session.flush()
    return {"open_event": seminar.slug, "forum_event": forum_event.slug, "forum_code": forum.code, "manage_token": held.token}


@pytest.fixture(scope="package")
def live(_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """`portal serve` on a free port against a fresh, migrated and seeded database."""
    home = tmp_path_factory.mktemp("e2e")
    database_url = fresh_database(_template, home)
    engine = make_engine(database_url, pool_size=2)
    data_key = new_key()
    sessions = make_session_factory(engine, keyring=Keyring((data_key,)))
    seeded = run_unit_of_work(sessions, _seed, write=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_SECRET_KEY": "e2e-test-secret",
        "PORTAL_DATA_KEY": data_key,
        "PORTAL_BASE_URL": url,
        "PORTAL_DELIVER_IN_PROCESS": "0",  # the tests read the outbox table itself
        "PORTAL_SMTP_URL": "",
    }
    try:
        with running_portal(home, env, port=port):
            yield LiveSite(url=url, sessions=sessions, log=home / "server.log", **seeded)
    finally:
        engine.dispose()


@pytest.fixture(scope="package", autouse=True)
def html_check(live: LiveSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HtmlCheck]:
    """Every kind of page, saved from the freshly seeded site and handed to the Nu HTML checker
    at the start, so that its JVM runs beside the browser tests; test_pages_are_valid_html
    reads the verdict."""
    check = HtmlCheck()
    try:
        files = save_pages(live, (ORGANISER_EMAIL, ORGANISER_PASSWORD), (DOOR_EMAIL, DOOR_PASSWORD), tmp_path_factory.mktemp("pages"))
    except (AssertionError, httpx.HTTPError) as exc:
        check.problem = f"Could not save the pages to check: {exc}"
    else:
        check.start(files)
    yield check
    check.stop()

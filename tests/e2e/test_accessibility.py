"""Accessibility and valid HTML: axe-core in Chromium on the pages people use, registration by
keyboard alone, and the Nu HTML checker over the pages as the server sends them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ORGANISER_EMAIL, ORGANISER_PASSWORD, LiveSite
from tests.e2e.tools import BLOCKING, HtmlCheck, axe_violations, describe_violations

pytestmark = pytest.mark.browser


class Audit:
    """axe-core over each page a test visits; the serious and critical findings, by page."""

    def __init__(self, page: Page, device: str) -> None:
        self.page, self.device = page, device
        self.found: dict[str, list[dict]] = {}

    def check(self, name: str) -> None:
        self.found[name] = [v for v in axe_violations(self.page) if v["impact"] in BLOCKING]

    def assert_clean(self) -> None:
        assert self.found, "no page was checked"
        report = "\n".join(f"{name}:\n{describe_violations(v)}" for name, v in self.found.items() if v)
        assert not report, f"serious or critical accessibility violations on the {self.device}:\n{report}"


def focus_of(page: Page) -> str:
    """What has the focus, as 'tag#id' or 'tag:text', and whether it shows that it does: the
    browser's own ring, an outline of 2px or more, or Pico's box-shadow ring."""
    return str(page.evaluate("""() => {
        const el = document.activeElement;
        const name = el.id ? `${el.tagName.toLowerCase()}#${el.id}` : `${el.tagName.toLowerCase()}:${el.textContent.trim()}`;
        const style = getComputedStyle(el);
        const outline = style.outlineStyle === 'auto' || (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2);
        const shown = el.matches(':focus-visible') && (outline || style.boxShadow !== 'none');
        return shown ? name : `${name} (focus not visible)`;
    }"""))


def tab_until(page: Page, target: str, limit: int = 25) -> list[str]:
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(focus_of(page))
        if seen[-1] == target:
            return seen
    raise AssertionError(f"Tab never reached {target}; it went through {seen}")


# Each page once, as axe costs about half a second a page and the suite runs twice: the
# participants' pages on the phone, the narrower and more demanding layout, the back office
# on the desktop where organisers mostly work. The journeys run every page on both screens
# and check that each fits a phone's width.
@pytest.mark.parametrize("device", ["phone"])
def test_participant_pages_have_no_serious_accessibility_problems(page: Page, live: LiveSite, device: str) -> None:
    audit = Audit(page, device)
    page.goto("/")
    audit.check("home")
    page.goto("/events")
    audit.check("listing")
    page.goto(f"/events/{live.open_event}")
    audit.check("event page")
    page.goto(f"/events/{live.open_event}/register")
    page.get_by_label("Email address").fill("not an address")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit.check("form with errors")
    page.get_by_label("Full name").fill("Aisha Rahman")
    page.get_by_label("Email address").fill(f"aisha-{device}@example.org")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    audit.check("confirmation")
    page.goto(f"/registrations/{live.manage_token}")
    audit.check("manage page")
    page.goto(f"/registrations/{live.manage_token}/cancel")
    audit.check("cancel page")
    audit.assert_clean()


@pytest.mark.parametrize("device", ["desktop"])
def test_back_office_pages_have_no_serious_accessibility_problems(page: Page, live: LiveSite, device: str) -> None:
    audit = Audit(page, device)
    page.goto("/admin/sign-in")
    audit.check("sign-in")
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    audit.check("dashboard")
    page.goto(f"/admin/events/{live.forum_event}")
    audit.check("roster")
    # A bulk action that emails asks first, with a note for the emails.
    page.get_by_role("checkbox").first.check()
    page.locator("fieldset.bulk-actions button[value=reject]").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Reject 1 registration?")
    expect(page.get_by_label("A note for the email")).to_be_visible()
    audit.check("confirm action")
    page.goto(f"/admin/events/{live.forum_event}/check-in")
    audit.check("check-in")
    # One registration, with its internal notes, and the form that corrects its details.
    page.goto(f"/admin/events/{live.forum_event}")
    registration = page.get_by_role("link", name="More").first.get_attribute("href")
    page.goto(registration)
    expect(page.get_by_role("heading", name="Internal notes")).to_be_visible()
    audit.check("registration")
    page.goto(f"{registration}/edit")
    audit.check("registration edit")
    page.goto(f"/admin/events/{live.forum_event}/columns")
    audit.check("roster columns")
    audit.assert_clean()


@pytest.mark.parametrize("device", ["desktop"])
def test_registration_works_with_the_keyboard_alone(page: Page, live: LiveSite, device: str) -> None:
    def focused() -> str:
        return focus_of(page)

    def tab_to(target: str, limit: int = 25) -> list[str]:
        return tab_until(page, target, limit)

    page.goto(f"/events/{live.open_event}")
    # The first Tab reaches the skip link, which takes the focus past the navigation.
    page.keyboard.press("Tab")
    assert focused() == "a:Skip to content"
    page.keyboard.press("Enter")
    assert focused().startswith("main#main")
    passed = tab_to("a:Register")
    assert "a:Programmes" not in passed, "the skip link should have taken the focus past the navigation"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Register for")

    # The fields come in reading order; the bots' trap field is never reached.
    tab_to("input#name")
    order = [focused()]
    for _ in range(5):
        page.keyboard.press("Tab")
        order.append(focused())
    assert order == ["input#name", "input#email", "input#organisation", "input#position", "input#consent", "button:Register"]

    # Typing, then sending without the consent: the error summary is announced and focused,
    # and its link leads back to the field to fix.
    for _ in range(4):  # back from the button to the email field
        page.keyboard.press("Shift+Tab")
    page.keyboard.type("keyboard-user@example.org")
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("Rahul Menon")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("You need to agree")
    assert focused() == "div#form-errors"
    expect(page.get_by_label("Full name")).to_have_value("Rahul Menon")
    page.keyboard.press("Tab")
    assert focused().startswith("a:I agree") and not focused().endswith("(focus not visible)")
    page.keyboard.press("Enter")
    assert focused() == "input#consent"
    page.keyboard.press("Space")
    expect(page.get_by_label("I agree")).to_be_checked()
    page.keyboard.press("Tab")
    assert focused() == "button:Register"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    assert live.emailed_link("keyboard-user@example.org")


def test_pages_are_valid_html(html_check: HtmlCheck) -> None:
    """Every kind of page, as the server sends it, passes the Nu HTML checker (see pages.py)."""
    assert len(html_check.files) >= 30, "fewer pages than expected were saved"
    errors = html_check.errors()
    assert not errors, f"{len(errors)} HTML errors:\n" + "\n".join(errors)


@pytest.mark.parametrize("device", ["phone"])
def test_the_back_office_works_with_the_keyboard_alone(page: Page, live: LiveSite, device: str) -> None:
    page.goto("/admin/sign-in")
    page.get_by_label("Email").fill(ORGANISER_EMAIL)
    page.get_by_label("Password").fill(ORGANISER_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    # The roster's filter: each control shows its focus on its own (Pico's search-group ring
    # round the whole form, labels and all, once hid the button's).
    roster = f"/admin/events/{live.forum_event}"
    page.goto(roster + "?status=pending")
    page.get_by_label("Status").focus()
    assert tab_until(page, "button:Show")[-1] == "button:Show"

    def ring() -> tuple[str, float, str]:
        """The focused control's outline: Pico's own ring on grey buttons is about 1.2:1 against
        white, so the portal draws a dark blue one on every control."""
        style, width, colour = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]; }"
        )
        return style, width, colour

    assert ring() == ("solid", 3.0, "rgb(29, 78, 216)")

    # Ticking someone and asking to cancel: the page asks first, and "Keep them" goes back.
    box = page.get_by_role("checkbox").first
    box.focus()
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    page.get_by_role("button", name="Cancel registration").focus()
    assert focus_of(page) == "button:Cancel registration"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cancel 1 registration?")
    page.get_by_role("button", name="Keep it").focus()
    assert focus_of(page) == "a:Keep it" and ring()[0] == "solid"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/events/[^?]+\?status=pending$"))
    expect(page.get_by_role("heading", name="Roster")).to_be_visible()

    # A form sent back with a mistake puts the focus on what to fix.
    page.goto(f"{roster}/edit")
    page.get_by_label("Title").fill("")
    page.get_by_role("button", name=re.compile("^Save")).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Give the event a title")
    assert focus_of(page).startswith("div")
    page.keyboard.press("Tab")
    assert focus_of(page) == "a:Title"
    page.keyboard.press("Enter")
    assert focus_of(page) == "input#title"

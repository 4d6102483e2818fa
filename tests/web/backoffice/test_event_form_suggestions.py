"""The new-event form helps where it used to ask for what an organiser cannot know: the URL
slug is made from the title when left empty (and named for what it is), the categories
events already have are offered, and the time zone is picked from the IANA list as it is
typed. Everything still works without JavaScript."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.models import Event
from portal.text import slug_from
from tests.web.backoffice.conftest import post
from tests.web.backoffice.test_events_admin import NEW


def created_slug(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text[:500]
    return response.headers["location"].rsplit("/", 1)[1]


def test_an_empty_slug_is_made_from_the_title_and_kept_free(organiser_client, sessions):
    values = dict(NEW, slug="", title="Trade & Finance: Asia’s Next Decade (2027)")
    first = created_slug(post(organiser_client, "/admin/events/new", values, token_from="/admin/events/new"))
    assert first == "trade-finance-asias-next-decade-2027"
    second = created_slug(post(organiser_client, "/admin/events/new", values, token_from="/admin/events/new"))
    assert second == "trade-finance-asias-next-decade-2027-2"
    with sessions() as session:
        assert set(session.scalars(select(Event.slug))) == {first, second}
    # A slug typed in is used as typed.
    typed = created_slug(post(organiser_client, "/admin/events/new", dict(values, slug="tfa-2027"), token_from="/admin/events/new"))
    assert typed == "tfa-2027"


def test_the_form_names_the_slug_and_suggests_categories_and_zones(organiser_client, make_event):
    make_event(category="masterclass")
    page = organiser_client.get("/admin/events/new").text
    assert '<label for="slug">URL slug <span class="optional">(optional)</span></label>' in page
    assert "Leave it empty to make it from the title" in page
    assert "Address name" not in page
    category = re.search(r'<input[^>]*id="category"[^>]*>', page).group(0)
    zone = re.search(r'<input[^>]*id="timezone"[^>]*>', page).group(0)
    assert 'list="known-categories"' in category and 'list="time-zones"' in zone
    categories = re.search(r'<datalist id="known-categories">(.*?)</datalist>', page, re.S).group(1)
    assert {"seminar", "conference", "masterclass"} <= set(re.findall(r'value="([^"]+)"', categories))
    zones = re.findall(r'value="([^"]+)"', re.search(r'<datalist id="time-zones">(.*?)</datalist>', page, re.S).group(1))
    assert {"Asia/Singapore", "Europe/London", "America/New_York", "UTC"} <= set(zones)
    assert not any(z.startswith(("Etc/", "posix/")) for z in zones)
    assert "/static/js/event_form.js" in page
    # Editing an event shows its slug as fixed, under the same name.
    event = make_event(slug="fixed-2027")
    edit = organiser_client.get(f"/admin/events/{event.slug}/edit").text
    assert "URL slug: <code>fixed-2027</code>" in edit and "/static/js/event_form.js" not in edit


def test_a_new_category_can_be_typed_and_an_unknown_zone_is_refused(organiser_client, sessions):
    made = created_slug(post(organiser_client, "/admin/events/new", dict(NEW, category="study-visit"), token_from="/admin/events/new"))
    with sessions() as session:
        assert session.scalar(select(Event.category).where(Event.slug == made)) == "study-visit"
    refused = post(organiser_client, "/admin/events/new", dict(NEW, slug="other", timezone="Asia/Singapur"), token_from="/admin/events/new")
    assert refused.status_code == 422 and "not a time zone" in refused.text


@pytest.mark.parametrize(("title", "slug"), [
    ("APPSMO 2027", "appsmo-2027"),
    ("Café Société — Débat", "cafe-societe-debat"),
    ("  --Leading & trailing--  ", "leading-trailing"),
    ("国际会议", ""),
    ("word " * 30, ("word-" * 12).rstrip("-")),
])
def test_slug_from_a_title(title, slug):
    assert slug_from(title) == slug

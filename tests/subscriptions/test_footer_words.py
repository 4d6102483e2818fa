"""The subscriber's choice in the footer of an announcement or digest: programmes by name,
categories in words, and names (organisers' text) escaped in the HTML part."""

from __future__ import annotations

from portal.catalogue import editing
from portal.models import EventStatus
from tests.mailings import conftest as mailing_fixtures

# The mailings' fixtures: subscribers, a fan-out, the outbox (conftest files of sibling folders do
# not reach here).
make_subscriber, fan_out, queued = mailing_fixtures.make_subscriber, mailing_fixtures.fan_out, mailing_fixtures.queued


def test_the_footer_names_the_programmes_and_words_the_categories(run, make_programme, make_event, make_subscriber, fan_out, queued):
    tatc = make_programme(code="tatc", name="Terrorism Analyst Training Course")
    make_programme(code="iccs", name="Cohesive <Societies> & Co")
    one = make_subscriber(programmes=["tatc"])
    several = make_subscriber(programmes=["tatc", "iccs", "gone"], categories=["book-launch", "course"])
    everything = make_subscriber()
    event = make_event(status=EventStatus.DRAFT, published_at=None, programme_id=tatc.id, category="course")
    run(editing.publish_event, None, event.slug)
    fan_out()

    rows = {row.to_address: row for row in queued("announcement")}
    assert "(programme: Terrorism Analyst Training Course)" in rows[one.email].body_text
    assert "tatc)" not in rows[one.email].body_text
    # A code no longer known stays as it is; a category's hyphens are spaces.
    words = "programmes: Terrorism Analyst Training Course, Cohesive <Societies> & Co, gone; categories: book launch, course"
    assert f"({words})" in rows[several.email].body_text
    assert "Cohesive &lt;Societies&gt; &amp; Co" in rows[several.email].body_html
    assert "<Societies>" not in rows[several.email].body_html
    assert "(all events)" in rows[everything.email].body_text

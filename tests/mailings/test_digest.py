"""The weekly digest: the week's new events, each subscriber's own choice of them, once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from portal.catalogue import editing
from portal.models import EventStatus, Frequency

SINGAPORE = ZoneInfo("Asia/Singapore")


def _tomorrow_at_nine() -> datetime:
    """09:00 tomorrow in the site's zone: an hour after the digest's time on that weekday."""
    tomorrow = datetime.now(SINGAPORE).date() + timedelta(days=1)
    return datetime.combine(tomorrow, datetime.min.time().replace(hour=9), tzinfo=SINGAPORE).astimezone(timezone.utc)


def test_the_digest_lists_the_week_s_announced_events_each_subscriber_wants(
    run, make_programme, make_event, make_subscriber, plan, fan_out, queued, mailings, site
):
    # Published now; the digest is reckoned as due a day later, on its weekday.
    iccs = make_programme(code="iccs-x", name="Cohesive Societies")
    weekly_all = make_subscriber(frequency=Frequency.WEEKLY)
    weekly_iccs = make_subscriber(frequency=Frequency.WEEKLY, programmes=[iccs.code])
    weekly_courses = make_subscriber(frequency=Frequency.WEEKLY, categories=["course"])
    make_subscriber(frequency=Frequency.WEEKLY, confirmed_at=None)
    each = make_subscriber()  # had each announcement instead
    seminar = make_event(status=EventStatus.DRAFT, published_at=None, title="A seminar <b>")
    conference = make_event(status=EventStatus.DRAFT, published_at=None, title="The conference", programme_id=iccs.id, category="conference")
    draft = make_event(status=EventStatus.DRAFT, published_at=None, title="Still a draft")
    for event in (seminar, conference):
        run(editing.publish_event, None, event.slug)
    fan_out()  # the announcements
    later = _tomorrow_at_nine()
    weekday = later.astimezone(SINGAPORE).weekday()
    plan(now=later, digest_weekday=weekday)
    plan(now=later, digest_weekday=weekday)
    fan_out(now=later)

    digests = {r.to_address: r for r in queued("digest")}
    assert set(digests) == {weekly_all.email, weekly_iccs.email}  # nothing for courses: no digest
    assert "A seminar <b>" in digests[weekly_all.email].body_text and "The conference" in digests[weekly_all.email].body_text
    assert "A seminar &lt;b&gt;" in digests[weekly_all.email].body_html
    assert "A seminar" not in digests[weekly_iccs.email].body_text and "The conference" in digests[weekly_iccs.email].body_text
    assert digests[weekly_iccs.email].subject == "1 new event this week: The conference"
    assert digests[weekly_all.email].subject == "2 new events this week"
    assert draft.title not in digests[weekly_all.email].body_text
    assert digests[weekly_all.email].headers["List-Unsubscribe"] == f"<{site.url('unsubscribe', token=weekly_all.token)}>"
    assert weekly_courses.email not in digests and each.email not in digests
    assert [k for k in mailings() if k.startswith("digest:")] == [f"digest:{later.astimezone(SINGAPORE).date()}"]


def test_a_week_without_new_events_sends_no_digest(make_subscriber, plan, fan_out, queued, mailings):
    make_subscriber(frequency=Frequency.WEEKLY)
    later = _tomorrow_at_nine()
    plan(now=later, digest_weekday=later.astimezone(SINGAPORE).weekday())
    fan_out(now=later)
    assert queued("digest") == []
    (digest,) = [m for k, m in mailings().items() if k.startswith("digest:")]
    assert digest.note == "no new events that week"

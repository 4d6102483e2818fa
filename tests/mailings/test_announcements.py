"""Announcing a newly published event to its subscribers: once, by the worker, in batches
that resume after a crash without sending anyone the same announcement twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.catalogue import editing
from portal.catalogue.imports import import_data
from portal.db import transaction, utcnow
from portal.mail import mailings as mailings_module
from portal.mail.audiences import ListOptions
from portal.mail.mailings import announce_event, can_announce_again, fan_out_batch
from portal.models import EventStatus, Frequency


def test_publishing_writes_one_mailing_and_no_email(run, make_event, make_subscriber, mailings, queued):
    make_subscriber()
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    run(editing.publish_event, None, event.slug)
    assert list(mailings()) == [f"announce:{event.id}"]
    # The publishing transaction wrote the job, not the emails: the worker fans it out.
    assert queued("announcement") == []


def test_the_fan_out_reaches_each_confirmed_subscriber_who_wants_the_event_once(
    run, make_programme, make_event, make_subscriber, fan_out, queued, mailings
):
    tatc = make_programme(code="tatc-x")
    other = make_programme(code="other-x")
    everything = make_subscriber()
    by_programme = make_subscriber(programmes=[tatc.code])
    by_category = make_subscriber(categories=["course"])
    both = make_subscriber(programmes=[tatc.code], categories=["course"])
    make_subscriber(programmes=[other.code])  # another programme
    make_subscriber(categories=["seminar"])  # another category
    make_subscriber(confirmed_at=None)  # never confirmed
    make_subscriber(frequency=Frequency.WEEKLY)  # has the digest instead
    event = make_event(status=EventStatus.DRAFT, published_at=None, programme_id=tatc.id, category="course")
    run(editing.publish_event, None, event.slug)

    fan_out(limit=3)

    rows = queued("announcement")
    assert sorted(r.to_address for r in rows) == sorted(s.email for s in (everything, by_programme, by_category, both))
    assert mailings()[f"announce:{event.id}"].finished_at is not None
    assert mailings()[f"announce:{event.id}"].queued == 4
    # Fanning out again, or publishing again after unpublishing, sends nothing more.
    assert fan_out() == 0
    run(editing.unpublish_event, None, event.slug)
    run(editing.publish_event, None, event.slug)
    fan_out()
    assert len(queued("announcement")) == 4


def test_an_announcement_carries_the_list_headers_and_the_subscriber_s_own_links(
    run, make_event, make_subscriber, fan_out, queued, site
):
    reader = make_subscriber()
    other = make_subscriber()
    event = make_event(status=EventStatus.DRAFT, published_at=None, title="Maritime <Security> & You")
    run(editing.publish_event, None, event.slug)
    fan_out(options=ListOptions(list_mailbox="leave@example.org"))

    (mine,) = [r for r in queued("announcement") if r.to_address == reader.email]
    leave = site.url("unsubscribe", token=reader.token)
    assert mine.headers["List-Unsubscribe"].startswith(f"<{leave}>, <mailto:leave@example.org?subject=")
    assert mine.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mine.headers["List-Id"].endswith(">")
    assert site.url("manage_subscription", token=reader.token) in mine.body_text
    assert site.url("manage_subscription", token=reader.token) in mine.body_html
    assert other.token not in mine.body_text + mine.body_html
    assert "Maritime <Security> & You" in mine.body_text
    assert "Maritime &lt;Security&gt; &amp; You" in mine.body_html
    assert "(Asia/Singapore" in mine.body_text  # dates in the event's zone, zone named
    assert site.event_url(event.slug) in mine.body_text


def test_an_import_announces_the_events_it_publishes_once(run, make_subscriber, fan_out, queued, mailings):
    make_subscriber()
    starts = (utcnow() + timedelta(days=20)).replace(microsecond=0)
    data = {
        "events": [
            {"slug": "imported-a", "title": "Imported A", "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(), "status": "published"},
            {"slug": "imported-b", "title": "Imported B", "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(), "status": "draft"},
            {"slug": "imported-old", "title": "Over", "starts_at": "2020-01-01T09:00:00+08:00", "ends_at": "2020-01-01T10:00:00+08:00", "status": "published"},
        ]
    }
    run(import_data, data)
    run(import_data, data)  # idempotent: importing again announces nothing more
    assert [key.split(":")[0] for key in mailings()] == ["announce"]
    fan_out()
    assert [r.subject for r in queued("announcement")] == [f"New event: Imported A, {starts.astimezone(ZoneInfo('Asia/Singapore')):%-d %b %Y}"]


def test_an_organiser_may_announce_a_changed_event_once_more(run, make_event, make_subscriber, fan_out, queued):
    make_subscriber()
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    assert not run(lambda s: can_announce_again(s, s.get(type(event), event.id)))
    run(editing.publish_event, None, event.slug)
    assert run(lambda s: can_announce_again(s, s.get(type(event), event.id)))
    assert run(lambda s: announce_event(s, s.get(type(event), event.id), again=True)) is not None
    assert not run(lambda s: can_announce_again(s, s.get(type(event), event.id)))
    assert run(lambda s: announce_event(s, s.get(type(event), event.id), again=True)) is None
    fan_out()
    subjects = Counter(r.subject.split(":")[0] for r in queued("announcement"))
    assert subjects == {"New event": 1, "Updated": 1}


def test_an_event_unpublished_or_cancelled_before_its_fan_out_is_not_announced(run, make_event, make_subscriber, fan_out, queued, mailings):
    make_subscriber()
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    run(editing.publish_event, None, event.slug)
    run(editing.unpublish_event, None, event.slug)
    fan_out()
    assert queued("announcement") == []
    assert mailings()[f"announce:{event.id}"].note == "the event is no longer published"


class Crash(Exception):
    pass


def test_a_fan_out_that_dies_mid_way_resumes_after_the_last_batch_it_committed(
    run, sessions, site, make_event, make_subscriber, fan_out, queued, monkeypatch
):
    readers = [make_subscriber() for _ in range(7)]
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    run(editing.publish_event, None, event.slug)

    with transaction(sessions, write=True) as session:
        assert fan_out_batch(session, site, ListOptions(), limit=3) == 3
    # The second batch dies after writing its rows, before committing: nothing of it stays.
    real = mailings_module.next_batch

    def dying(*args, **kwargs):
        real(*args, **kwargs)
        raise Crash()

    monkeypatch.setattr(mailings_module, "next_batch", dying)
    with pytest.raises(Crash), transaction(sessions, write=True) as session:
        fan_out_batch(session, site, ListOptions(), limit=3)
    monkeypatch.setattr(mailings_module, "next_batch", real)
    assert len(queued("announcement")) == 3

    fan_out(limit=3)
    received = Counter(r.to_address for r in queued("announcement"))
    assert received == Counter({r.email: 1 for r in readers})


def test_announcements_arrive_over_smtp_with_both_parts_and_one_click_headers(
    run, make_event, make_subscriber, fan_out, deliver, smtp_server, site
):
    reader = make_subscriber()
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    run(editing.publish_event, None, event.slug)
    fan_out()
    deliver(smtp_server)
    (arrival,) = smtp_server.to(reader.email)
    assert arrival.subject.startswith(f"New event: {event.title}")
    assert site.event_url(event.slug) in arrival.text and site.event_url(event.slug) in arrival.html
    assert arrival.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert arrival.message["List-Unsubscribe"] == f"<{site.url('unsubscribe', token=reader.token)}>"


def test_importing_an_event_published_already_announces_nothing(run, make_event, make_subscriber, mailings):
    make_subscriber()
    event = make_event()  # published before announcements, say: no mailing of its own
    data = {"events": [{
        "slug": event.slug, "title": event.title, "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat(), "status": "published",
    }]}
    run(import_data, data)
    assert mailings() == {}
    data["events"][0]["status"] = "draft"
    run(import_data, data)
    data["events"][0]["status"] = "published"
    run(import_data, data)  # an import that publishes it does announce it
    assert list(mailings()) == [f"announce:{event.id}"]


def test_unpublished_mid_fan_out_and_published_again_it_goes_on_to_the_rest(run, site, make_event, make_subscriber, fan_out, queued):
    readers = [make_subscriber() for _ in range(5)]
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    run(editing.publish_event, None, event.slug)
    run(lambda s: fan_out_batch(s, site, ListOptions(), limit=2))
    run(editing.unpublish_event, None, event.slug)
    fan_out()
    assert len(queued("announcement")) == 2
    run(editing.publish_event, None, event.slug)
    fan_out()
    rows = queued("announcement")
    assert Counter(r.to_address for r in rows) == Counter({r.email: 1 for r in readers})
    assert {r.subject.split(":")[0] for r in rows} == {"New event"}


def test_a_confirmation_queued_behind_an_announcement_goes_first(run, site, make_event, make_registration, make_subscriber, fan_out, sessions):
    from portal.mail.messages import queue_registration_message
    from portal.mail.outbox import claim_due

    for _ in range(6):
        make_subscriber()
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    run(editing.publish_event, None, event.slug)
    fan_out()
    registration = make_registration(event)
    run(lambda s: queue_registration_message(s, site, "confirmed", registration, event))
    with transaction(sessions, write=True) as session:
        first = claim_due(session, now=utcnow(), limit=3)
    assert [e.to_address for e in first][0] == registration.email
    assert len(first) == 3


def test_a_batch_rendered_while_another_worker_wrote_it_is_dropped(run, sessions, site, make_event, make_subscriber, fan_out, queued):
    """The worker renders a batch outside the write lock, then writes it only if the mailing
    still stands where it read it."""
    from portal.mail.mailings import commit_batch, prepare_batch

    readers = [make_subscriber() for _ in range(4)]
    event = make_event(status=EventStatus.DRAFT, published_at=None)
    run(editing.publish_event, None, event.slug)
    with transaction(sessions, write=False) as session:
        mine = prepare_batch(session, site, ListOptions(), now=utcnow(), limit=2)
    run(lambda s: fan_out_batch(s, site, ListOptions(), limit=2))  # another worker, first
    assert run(lambda s: commit_batch(s, mine, now=utcnow())) is None
    fan_out(limit=2)
    assert Counter(r.to_address for r in queued("announcement")) == Counter({r.email: 1 for r in readers})

"""Every email of subscriptions, messages, reminders and follow-ups goes through the outbox
and the real SMTP server: text and HTML parts, one-line subjects, and the headers each kind
owes its reader."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from portal.catalogue import editing
from portal.db import utcnow
from portal.models import EventStatus, Frequency
from portal.registrations.limits import RegistrationLimits
from portal.rosters import messages
from portal.subscriptions import service

SINGAPORE = ZoneInfo("Asia/Singapore")
LIMITS = RegistrationLimits(per_ip=0, per_email=0)


def test_each_kind_arrives_whole(run, site, make_event, make_registration, make_subscriber, make_organiser, plan, fan_out, queued, deliver, smtp_server):
    organiser = make_organiser("organiser@example.org")
    # Subscriptions: a new address asks, a confirmed one asks again.
    run(service.request_subscription, site, "new@example.org", programmes=[], categories=[], frequency="each", client="192.0.2.1", limits=LIMITS)
    known = make_subscriber(email="known@example.org")
    run(service.request_subscription, site, known.email, programmes=[], categories=[], frequency="each", client="192.0.2.1", limits=LIMITS)
    # An announcement to each, and the week's digest.
    make_subscriber(email="weekly@example.org", frequency=Frequency.WEEKLY)
    new_event = make_event(status=EventStatus.DRAFT, published_at=None, title="Published <now>")
    run(editing.publish_event, None, new_event.slug)
    # An organiser's message, and its test.
    now = utcnow()
    talk = make_event(starts_at=now + timedelta(hours=30), ends_at=now + timedelta(hours=32))
    guest = make_registration(talk, email="guest@example.org", name="Guest <b>", created_at=now - timedelta(days=5))
    body = "Dear {name}, see you at {venue} on {starts}."
    run(messages.send_test, site, organiser, talk.slug, "About {event}", body, {"statuses": ["confirmed"]})
    run(messages.send_message, site, organiser, talk.slug, "About {event}", body, {"statuses": ["confirmed"]}, "nonce-every-kind-0001")
    # A follow-up after an event that ended.
    followup = {"after": "PT1H", "subject": "Thank you, {name}", "body": "The **slides** are online."}
    past = make_event(starts_at=now - timedelta(hours=5), ends_at=now - timedelta(hours=3), followup=followup)
    make_registration(past, email="came@example.org", checked_in_at=now - timedelta(hours=4))

    tomorrow = datetime.combine(datetime.now(SINGAPORE).date() + timedelta(days=1), datetime.min.time().replace(hour=9), tzinfo=SINGAPORE)
    fan_out()
    plan(now=now)  # the reminder (due 18 hours ago) and the follow-up
    fan_out(now=now)
    plan(now=tomorrow.astimezone(timezone.utc), digest_weekday=tomorrow.weekday())
    fan_out(now=tomorrow.astimezone(timezone.utc))
    while deliver(smtp_server) != (0, 0):
        pass

    rows = {row.id: row for row in queued()}
    arrivals = smtp_server.arrivals
    assert len(arrivals) == len(rows)
    kinds = set()
    for arrival in arrivals:
        # The Message-ID names the outbox row: <outbox-{id}.{written}@domain>.
        row = rows[int(arrival.message["Message-ID"].split("-", 1)[1].split(".", 1)[0])]
        kind = row.kind
        kinds.add(kind)
        assert arrival.rcpt_tos == [row.to_address]
        assert arrival.text.strip() and "<" in arrival.html, kind
        assert "\n" not in arrival.subject, kind
        if kind in ("announcement", "digest"):
            assert arrival.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", kind
            assert arrival.message["List-Id"], kind
        else:
            assert arrival.message["List-Unsubscribe"] is None, kind
        if kind in ("reminder", "followup"):
            assert arrival.message["Auto-Submitted"] == "auto-generated", kind
    assert kinds >= {
        "subscribe_confirm", "subscription_known", "announcement", "digest", "message", "message_test", "reminder", "followup",
    }
    (message,) = [a for a in smtp_server.to(guest.email) if a.subject == f"About {talk.title}"]
    assert "Dear Guest <b>, see you at" in message.text
    assert "Dear Guest &lt;b&gt;, see you at" in message.html
    (reminder,) = [a for a in smtp_server.to(guest.email) if a.subject.startswith("Reminder:")]
    assert reminder.calendar().walk("VEVENT")[0]["UID"] == talk.uid
    (thanks,) = smtp_server.to("came@example.org")
    assert "<strong>slides</strong>" in thanks.html and "**slides**" in thanks.text

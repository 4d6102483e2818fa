"""The rules of subscribing to new events, at the service: double opt-in, never revealing a
known address, choices checked, throttling, confirming, preferences, leaving, and forgetting
requests never confirmed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from portal.db import utcnow
from portal.errors import NotFound
from portal.models import AuditActor, EventStatus, Frequency, OutboxMessage
from portal.registrations.limits import RegistrationLimits, TooManyRequests
from portal.subscriptions import service
from portal.subscriptions.service import SubscriptionProblem
from tests.subscriptions.conftest import CONFIRM_LINK, MANAGE_LINK


def _only(outbox):
    messages = outbox()
    assert len(messages) == 1, [m.kind for m in messages]
    return messages[0]


def test_a_new_address_is_kept_unconfirmed_and_asked_to_confirm(ask, subscribers, outbox, make_programme, make_event):
    tatc = make_programme(code="tatc", name="Terrorism Analyst Training Course")
    make_event(category="book-launch")
    ask("  Ann.Lee@Example.ORG ", programmes=["tatc"], categories=["book-launch"], frequency="weekly")

    (subscriber,) = subscribers()
    assert subscriber.email == "ann.lee@example.org"
    assert subscriber.confirmed_at is None
    assert (subscriber.programmes, subscriber.categories, subscriber.frequency) == (["tatc"], ["book-launch"], Frequency.WEEKLY)
    assert len(subscriber.token) >= 40

    message = _only(outbox)
    assert (message.kind, message.to_address) == ("subscribe_confirm", "ann.lee@example.org")
    assert CONFIRM_LINK.findall(message.body_text) == [subscriber.token]
    assert set(CONFIRM_LINK.findall(message.body_html)) == {subscriber.token}
    assert tatc.name in message.body_text and "book launch" in message.body_text
    assert "weekly digest, on Mondays" in message.body_text


def test_asking_again_before_confirming_takes_the_new_choices_and_asks_again(ask, subscribers, outbox, make_programme):
    make_programme(code="tatc")
    make_programme(code="iccs")
    then = utcnow() - timedelta(days=3)
    ask("ann@example.org", programmes=["tatc"], now=then)
    (first,) = subscribers()

    ask("ANN@example.org", programmes=["iccs"], frequency="weekly")
    (again,) = subscribers()
    assert (again.id, again.token) == (first.id, first.token)
    assert again.confirmed_at is None
    assert (again.programmes, again.frequency) == (["iccs"], Frequency.WEEKLY)
    # The seven days to confirm run from the latest request.
    assert again.created_at > then + timedelta(days=2)
    messages = outbox()
    assert [m.kind for m in messages] == ["subscribe_confirm", "subscribe_confirm"]
    assert CONFIRM_LINK.findall(messages[1].body_text) == [first.token]


def test_asking_for_a_confirmed_address_changes_nothing_and_sends_the_preferences_link(ask, run, subscribers, outbox, make_programme, audit_entries):
    make_programme(code="tatc")
    make_programme(code="iccs")
    ask("ann@example.org", programmes=["tatc"])
    (subscriber,) = subscribers()
    run(service.confirm, subscriber.token)
    before = subscribers()[0]
    entries = len(audit_entries())

    ask("ann@example.org", programmes=["iccs"], frequency="weekly")

    (after,) = subscribers()
    for column in ("email", "token", "programmes", "categories", "frequency", "confirmed_at", "created_at", "updated_at"):
        assert getattr(after, column) == getattr(before, column), column
    known = outbox()[-1]
    assert (known.kind, known.to_address) == ("subscription_known", "ann@example.org")
    assert MANAGE_LINK.findall(known.body_text) == [subscriber.token]
    assert not CONFIRM_LINK.search(known.body_text) and not CONFIRM_LINK.search(known.body_html)
    assert len(audit_entries()) == entries


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "ann",
        "ann@",
        "ann@example",
        "ann example@example.org",
        "ann@example.org\r\nBcc: eve@example.org",
        "ann@example.org\nSubject: hello",
        "eve@example.org, ann@example.org",
        "<ann@example.org>",
        "a" * 250 + "@example.org",
    ],
)
def test_an_address_the_registration_form_refuses_is_refused(ask, email, subscribers, outbox):
    with pytest.raises(SubscriptionProblem) as refused:
        ask(email)
    assert refused.value.field == "email"
    assert subscribers() == [] and outbox() == []


def test_an_unknown_programme_or_category_or_frequency_is_refused_by_name(ask, subscribers, outbox, make_programme, make_event):
    make_programme(code="tatc")
    make_event(category="seminar")
    make_event(category="secret-retreat", status=EventStatus.DRAFT)

    with pytest.raises(SubscriptionProblem) as refused:
        ask("ann@example.org", programmes=["tatc", "nope"])
    assert refused.value.field == "programmes" and "'nope'" in refused.value.message
    # A draft's category is not offered: it would tell of an event not yet public.
    with pytest.raises(SubscriptionProblem) as refused:
        ask("ann@example.org", categories=["secret-retreat"])
    assert refused.value.field == "categories" and "'secret-retreat'" in refused.value.message
    with pytest.raises(SubscriptionProblem) as refused:
        ask("ann@example.org", frequency="hourly")
    assert refused.value.field == "frequency"
    assert subscribers() == [] and outbox() == []

    ask("ann@example.org", programmes=["tatc"], categories=["seminar"])
    assert len(subscribers()) == 1


def test_requests_for_one_address_are_throttled_per_minute(ask, subscribers, outbox):
    limits = RegistrationLimits(per_ip=0, per_email=2)
    now = utcnow()
    ask("ann@example.org", limits=limits, client="192.0.2.1", now=now)
    ask("Ann@Example.org", limits=limits, client="192.0.2.2", now=now)
    with pytest.raises(TooManyRequests) as refused:
        ask("ann@example.org", limits=limits, client="192.0.2.3", now=now + timedelta(seconds=20))
    assert 1 <= refused.value.retry_after <= 40
    assert "this email address" in refused.value.message
    assert len(outbox()) == 2
    # Another address is not held back, and the minute over, this one may ask again.
    ask("bob@example.org", limits=limits, client="192.0.2.3", now=now + timedelta(seconds=20))
    ask("ann@example.org", limits=limits, client="192.0.2.3", now=now + timedelta(seconds=61))
    assert len(outbox()) == 4


def test_requests_from_one_client_are_throttled_per_minute(ask, subscribers, outbox):
    limits = RegistrationLimits(per_ip=2, per_email=0)
    now = utcnow()
    ask("a@example.org", limits=limits, client="203.0.113.7", now=now)
    ask("b@example.org", limits=limits, client="203.0.113.7", now=now)
    with pytest.raises(TooManyRequests) as refused:
        ask("c@example.org", limits=limits, client="203.0.113.7", now=now)
    assert "from your network" in refused.value.message
    # Refused: nothing kept, nothing sent.
    assert [s.email for s in subscribers()] == ["a@example.org", "b@example.org"]
    ask("c@example.org", limits=limits, client="198.51.100.9", now=now)
    assert len(outbox()) == 3


def test_unconfirmed_requests_are_forgotten_after_seven_days(ask, run, subscribers, audit_entries):
    now = utcnow()
    ask("old@example.org", now=now - timedelta(days=7, minutes=1))
    ask("recent@example.org", now=now - timedelta(days=6, hours=23))
    ask("confirmed@example.org", now=now - timedelta(days=30))
    confirmed = next(s for s in subscribers() if s.email == "confirmed@example.org")
    run(service.confirm, confirmed.token, now - timedelta(days=29))

    assert run(service.forget_unconfirmed, now) == 1
    assert sorted(s.email for s in subscribers()) == ["confirmed@example.org", "recent@example.org"]
    assert audit_entries()[-1].after == {"forgotten": 1}
    assert audit_entries()[-1].actor == AuditActor.PORTAL
    # Nothing more to forget until the recent one is a week old.
    assert run(service.forget_unconfirmed, now) == 0
    assert run(service.forget_unconfirmed, now + timedelta(hours=2)) == 1
    assert [s.email for s in subscribers()] == ["confirmed@example.org"]


def test_confirming_sets_the_time_once(ask, run, subscribers):
    ask("ann@example.org")
    token = subscribers()[0].token
    first = utcnow() - timedelta(hours=1)
    run(service.confirm, token, first)
    run(service.confirm, token, utcnow())
    assert subscribers()[0].confirmed_at == first


def test_preferences_change_and_a_held_category_stays_choosable(ask, run, subscribers, make_programme, make_event):
    make_programme(code="tatc")
    event = make_event(category="roundtable")
    ask("ann@example.org", categories=["roundtable"])
    token = subscribers()[0].token

    # The last public roundtable is withdrawn: the subscriber may keep the category.
    def unpublish(session):
        session.get(type(event), event.id).status = EventStatus.DRAFT

    run(unpublish)
    run(service.update_preferences, token, ["tatc"], ["roundtable"], "weekly")
    subscriber = subscribers()[0]
    assert (subscriber.programmes, subscriber.categories, subscriber.frequency) == (["tatc"], ["roundtable"], Frequency.WEEKLY)
    with pytest.raises(SubscriptionProblem):
        run(service.update_preferences, token, ["tatc"], ["roundtable", "workshop"], "weekly")
    with pytest.raises(SubscriptionProblem):
        run(service.update_preferences, token, ["nope"], [], "each")
    assert subscribers()[0].programmes == ["tatc"]


def test_leaving_deletes_the_row_and_the_link_then_opens_nothing(ask, run, subscribers):
    ask("ann@example.org")
    ask("bob@example.org")
    token = subscribers()[0].token
    run(service.leave, token)
    assert [s.email for s in subscribers()] == ["bob@example.org"]
    for call in (service.leave, service.subscription_by_token, service.confirm):
        with pytest.raises(NotFound):
            run(call, token)


@pytest.mark.parametrize("token", ["", "short", "x" * 65, "a/b" * 20, "abc\x00" * 12, "é" * 43])
def test_a_malformed_or_unknown_token_opens_nothing(run, token):
    with pytest.raises(NotFound):
        run(service.subscription_by_token, token)


def test_the_audit_log_records_participants_changes_without_the_address(ask, run, subscribers, audit_entries, make_programme):
    make_programme(code="tatc")
    ask("Ann.Private@example.org")
    token = subscribers()[0].token
    subscriber_id = subscribers()[0].id
    run(service.confirm, token)
    run(service.update_preferences, token, ["tatc"], [], "weekly")
    run(service.leave, token)

    entries = audit_entries()
    assert [e.action for e in entries] == ["subscription.request", "subscription.confirm", "subscription.update", "subscription.leave"]
    assert all(e.actor == AuditActor.PARTICIPANT and e.organiser_id is None for e in entries)
    assert all(subscriber_id in (e.after.get("subscriber"), e.before.get("subscriber")) for e in entries)
    assert entries[2].after["programmes"] == 1 and entries[2].after["frequency"] == "weekly"
    written = json.dumps([[e.before, e.after] for e in entries]).lower()
    assert "ann.private" not in written and "example.org" not in written and token not in written


def test_the_emails_escape_what_organisers_and_visitors_typed(ask, outbox, make_programme):
    make_programme(code="tatc", name='<script>alert("x")</script> & Co')
    ask("o'brien&co@example.org", programmes=["tatc"])
    message = _only(outbox)
    assert isinstance(message, OutboxMessage)
    assert '<script>alert("x")</script> & Co' in message.body_text
    assert "<script>" not in message.body_html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in message.body_html
    assert "o&#39;brien&amp;co@example.org" in message.body_html
    assert "\n" not in message.subject and "\r" not in message.subject


def test_one_address_is_emailed_at_most_five_times_a_day_whoever_asks(run, site, outbox):
    from datetime import timedelta

    from portal.db import utcnow
    from portal.registrations.limits import RegistrationLimits
    from portal.subscriptions.service import EMAILS_A_DAY, request_subscription

    no_limit = RegistrationLimits(per_ip=0, per_email=0)
    now = utcnow()
    for minutes in range(EMAILS_A_DAY + 3):
        run(request_subscription, site, "victim@example.org", programmes=[], categories=[], frequency="each",
            client=f"192.0.2.{minutes}", limits=no_limit, now=now + timedelta(minutes=minutes))
    assert len([m for m in outbox() if m.to_address == "victim@example.org"]) == EMAILS_A_DAY
    # A day on, the owner can ask again.
    run(request_subscription, site, "victim@example.org", programmes=[], categories=[], frequency="each",
        client="192.0.2.200", limits=no_limit, now=now + timedelta(days=1, minutes=30))
    assert len([m for m in outbox() if m.to_address == "victim@example.org"]) == EMAILS_A_DAY + 1


def test_a_new_subscriber_never_takes_the_id_of_one_who_left(run, site):
    """The audit log names subscribers by id alone."""
    from portal.models import Subscriber
    from portal.registrations.limits import RegistrationLimits
    from portal.subscriptions.service import leave, request_subscription

    no_limit = RegistrationLimits(per_ip=0, per_email=0)

    def ask(email):
        run(request_subscription, site, email, programmes=[], categories=[], frequency="each", client="192.0.2.9", limits=no_limit)
        return run(lambda s: s.query(Subscriber).filter_by(email=email).one())

    first = ask("first@example.org")
    run(leave, first.token)
    assert ask("second@example.org").id > first.id

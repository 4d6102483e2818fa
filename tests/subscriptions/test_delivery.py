"""Subscribing end to end through the real SMTP server: the form, the email to confirm (text
and HTML parts, one link in both), the confirmation page's button, and the preferences; and
the email to an address already subscribed."""

from __future__ import annotations

from portal.models import Frequency
from tests.conftest import BASE_URL, csrf_from
from tests.subscriptions.conftest import CONFIRM_LINK, MANAGE_LINK


def test_subscribe_confirm_by_email_and_land_on_the_preferences(client, subscribe_online, subscribers, smtp_server, deliver, make_programme, make_event):
    make_programme(code="tatc", name="Terrorism <Analyst> Training & Course")
    make_event(category="book-launch")
    response = subscribe_online("Ann.Lee@Example.org", programmes=["tatc"], categories=["book-launch"], frequency="weekly")
    assert response.status_code == 303

    assert deliver(smtp_server) == (1, 0)
    (arrival,) = smtp_server.to("ann.lee@example.org")
    assert arrival.subject == "Please confirm: email about new RSIS events"
    assert arrival.message["To"] == "ann.lee@example.org"
    text, html = arrival.text, arrival.html
    (token,) = set(CONFIRM_LINK.findall(text))
    assert set(CONFIRM_LINK.findall(html)) == {token}
    assert "Terrorism <Analyst> Training & Course" in text
    assert "Terrorism &lt;Analyst&gt; Training &amp; Course" in html and "<Analyst>" not in html
    assert "book launch" in text and "weekly digest" in html
    assert subscribers()[0].confirmed_at is None

    # The visitor follows the link from the email: a page with a button, then the POST.
    link = f"{BASE_URL}/subscribe/confirm/{token}"
    page = client.get(link)
    assert page.status_code == 200 and subscribers()[0].confirmed_at is None
    done = client.post(link, data={"csrf_token": csrf_from(page.text)})
    assert done.status_code == 303
    preferences = client.get(done.headers["location"])
    assert preferences.status_code == 200
    assert "your subscription is confirmed" in preferences.text
    (subscriber,) = subscribers()
    assert subscriber.confirmed_at is not None
    assert (subscriber.programmes, subscriber.categories, subscriber.frequency) == (["tatc"], ["book-launch"], Frequency.WEEKLY)

    # Asking again for the same address sends the preferences link, and changes nothing.
    assert subscribe_online("ann.lee@example.org").status_code == 303
    assert deliver(smtp_server) == (1, 0)
    known = smtp_server.to("ann.lee@example.org")[-1]
    assert known.subject == "You are already subscribed to new RSIS events"
    assert set(MANAGE_LINK.findall(known.text)) == set(MANAGE_LINK.findall(known.html)) == {token}
    assert not CONFIRM_LINK.search(known.text)
    assert subscribers()[0].frequency == Frequency.WEEKLY

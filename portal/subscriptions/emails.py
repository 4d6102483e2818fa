"""The two emails a request to subscribe can send: the request to confirm (to a new or not
yet confirmed address), and the link to the preferences (to an address already subscribed,
which is told that nothing changed). Either way one email goes out, so the page that follows
says the same thing whoever asked.

Both are rendered from templates/email/ like every other message (mail.messages.render: one
line of subject whatever it holds, every value escaped in the HTML part) and written to the
outbox in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.mail.messages import render
from portal.models import Frequency, OutboxMessage, Programme, Subscriber
from portal.site import Site
from portal.text import WEEKDAYS

CONFIRM = "subscribe_confirm"
KNOWN = "subscription_known"


@dataclass(frozen=True)
class Chosen:
    """A subscriber's choices in words, as the emails and pages show them."""

    programmes: list[str]  # names; empty: every programme
    categories: list[str]  # in words ("book launch"); empty: every category
    frequency: str


def frequency_words(frequency: Frequency, digest_weekday: int) -> str:
    if frequency == Frequency.WEEKLY:
        return f"A weekly digest, on {WEEKDAYS[digest_weekday]}s"
    return "Each new event, as it is published"


def category_words(category: str) -> str:
    return category.replace("-", " ")


def chosen(session: Session, subscriber: Subscriber, digest_weekday: int) -> Chosen:
    """The subscriber's programmes by name, categories and frequency in words."""
    names = {code: name for code, name in session.execute(select(Programme.code, Programme.name).where(Programme.code.in_(subscriber.programmes or [])))}
    return Chosen(
        programmes=sorted(names.get(code, code) for code in subscriber.programmes or []),
        categories=[category_words(c) for c in sorted(subscriber.categories or [])],
        frequency=frequency_words(subscriber.frequency, digest_weekday),
    )


def _queue(session: Session, site: Site, kind: str, subscriber: Subscriber, context: dict[str, object]) -> OutboxMessage:
    subject, text, html = render(kind, {"site": site, **context})
    message = OutboxMessage(kind=kind, to_address=subscriber.email, subject=subject, body_text=text, body_html=html, attachments=[])
    session.add(message)
    return message


def queue_confirmation(session: Session, site: Site, subscriber: Subscriber, digest_weekday: int) -> OutboxMessage:
    """Ask the address's owner to confirm, by the link to the confirmation page."""
    return _queue(session, site, CONFIRM, subscriber, {
        "chosen": chosen(session, subscriber, digest_weekday),
        "email": subscriber.email,
        "confirm_url": site.url("confirm_subscription", token=subscriber.token),
    })


def queue_known(session: Session, site: Site, subscriber: Subscriber, digest_weekday: int) -> OutboxMessage:
    """Tell a subscribed address that someone asked to subscribe it again, with the link to
    its preferences; nothing was changed."""
    return _queue(session, site, KNOWN, subscriber, {
        "chosen": chosen(session, subscriber, digest_weekday),
        "email": subscriber.email,
        "manage_url": site.url("manage_subscription", token=subscriber.token),
        "leave_url": site.url("unsubscribe", token=subscriber.token),
    })

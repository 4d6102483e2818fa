"""Email: messages are rendered from templates and written to the outbox in the caller's
transaction, so a change and the email that announces it commit (or fail) together."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from sqlalchemy.orm import Session

from portal.models import Event, OutboxMessage, Registration
from portal.templating import make_environment


@dataclass(frozen=True)
class Site:
    """What services need to know about where the portal lives, to write links in emails."""

    base_url: str = "http://127.0.0.1:8000"
    mail_from: str = "portal@localhost"
    timezone: str = "Asia/Singapore"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def manage_url(self, token: str) -> str:
        return self.url(f"/registrations/{token}")

    def event_url(self, slug: str) -> str:
        return self.url(f"/events/{slug}")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return make_environment()


def render(kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Render (subject, text, html) of one kind of message from templates/email/."""
    env = _environment()
    subject = env.get_template(f"email/{kind}.subject.txt").render(context).strip()
    text = env.get_template(f"email/{kind}.txt").render(context)
    html = env.get_template(f"email/{kind}.html").render(context)
    return " ".join(subject.split()), text, html


def queue_registration_message(
    session: Session,
    site: Site,
    kind: str,
    registration: Registration,
    event: Event,
    **extra: Any,
) -> OutboxMessage:
    """Queue a message about one registration, with its private manage link."""
    context = {
        "site": site,
        "event": event,
        "registration": registration,
        "manage_url": site.manage_url(registration.token),
        "event_url": site.event_url(event.slug),
        **extra,
    }
    subject, text, html = render(kind, context)
    message = OutboxMessage(
        kind=kind,
        to_address=registration.email,
        subject=subject,
        body_text=text,
        body_html=html,
        attachments=[],
        event_id=event.id,
        registration_id=registration.id,
    )
    session.add(message)
    return message

"""The ticket in an email: its QR code as a PNG shown inside the HTML part (an inline image
the HTML names by its Content-ID), and the check-in code written out in both parts for a
reader who cannot show an image. Confirmation, promotion, approval (with a seat) and the
reminders carry it."""

from __future__ import annotations

from typing import Any

from portal.documents.tickets import display_code, payload
from portal.models import Registration, RegistrationStatus
from portal.site import Site

# The inline image's Content-ID; the HTML part shows it as <img src="cid:...">.
CONTENT_ID = "ticket@portal"
FILENAME = "ticket.png"
# 8 pixels a module: 232 px square for a ticket's QR code (version 1), quiet zone included.
SCALE = 8


def ticket_context(site: Site, registration: Registration) -> dict[str, Any] | None:
    """What the templates' ticket block shows, or None when the registration has no ticket
    (not confirmed, or never given a code)."""
    code = registration.checkin_code
    if registration.status != RegistrationStatus.CONFIRMED or not code:
        return None
    return {
        "code": display_code(code),
        "cid": CONTENT_ID,
        "print_url": site.url("show_ticket", token=registration.token),
    }


def ticket_attachment(registration: Registration) -> dict[str, str | int]:
    """The ticket's QR code as an outbox attachment: a PNG inline under CONTENT_ID, drawn
    from its payload when the message is built (transports.build_message): a few
    milliseconds that would otherwise be spent under the event's lock while registering."""
    assert registration.checkin_code
    return {
        "filename": FILENAME,
        "content_type": "image/png",
        "qr": payload(registration.checkin_code),
        "scale": SCALE,
        "content_id": CONTENT_ID,
    }

"""What the door's scanner sends: a typed code (the form that works without JavaScript), and
scans as JSON (one, or a door's offline scans in a sync). Shape only: whether a code is a
ticket, and for which event and day, is the registrations' scans module's to say."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from wtforms import Form, HiddenField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.forms.fields import STRIP, plain_line
from portal.registrations.scans import MAX_SYNC, DoorScan

# The door's id for a scan: a UUID from the browser (crypto.randomUUID), or the page's for a
# typed code; letters, digits and hyphens.
# fullmatch, never match with "$": "$" also matches before a final newline.
SCAN_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MAX_CODE = 200
MAX_DOOR = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class DoorCodeForm(Form):
    """The code typed at the door (the page without JavaScript)."""

    code = StringField(
        "Ticket code",
        [DataRequired("Type the code printed under the ticket's QR code."), Length(max=MAX_CODE, message="That is too long for a code."), plain_line],
        filters=STRIP,
    )
    # The page's own id for this scan, so a form sent twice (reloaded) counts once.
    scan_id = HiddenField(validators=[Optional(), Regexp(rf"^{SCAN_ID.pattern}\Z", message="damaged")], filters=STRIP)


def read_scan(item: Any) -> DoorScan | str:
    """A scan as the door's script sends it, {"scan_id", "code", "at", "door"}, or what is
    wrong with it. `at` is ISO 8601 with an offset (the door's clock); one without an offset,
    or none, is left to the server's clock."""
    if not isinstance(item, dict):
        return "A scan must be an object with scan_id and code."
    scan_id, code, at, door = item.get("scan_id"), item.get("code"), item.get("at"), item.get("door", "")
    if not isinstance(scan_id, str) or not SCAN_ID.fullmatch(scan_id):
        return "A scan needs its own id (scan_id: 8 to 64 letters, digits or hyphens)."
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE:
        return "A scan needs the code read from the ticket."
    if not isinstance(door, str) or len(door) > MAX_DOOR:
        return f"The door's name must be text of at most {MAX_DOOR} characters."
    when = None
    if isinstance(at, str) and len(at) <= 40:
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            try:
                when = parsed.astimezone(timezone.utc)
            except OverflowError:  # 0001-01-01 with a positive offset: before the year 1
                when = None
            if when is None or not 2000 <= when.year <= 2100:
                return "A scan's time (at) must be a date between the years 2000 and 2100."
    elif at is not None:
        return "A scan's time (at) must be ISO 8601 text."
    return DoorScan(scan_id, code, when, _CONTROL.sub("", door).strip())


def read_scans(body: Any) -> list[DoorScan | str] | str:
    """The scans of a sync ({"scans": [...]} or the bare list), each read as read_scan reads
    one, or what is wrong with the whole."""
    items = body.get("scans") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return "Send the scans as a list: {\"scans\": [...]}."
    if len(items) > MAX_SYNC:
        return f"Send at most {MAX_SYNC} scans at a time."
    return [read_scan(item) for item in items]

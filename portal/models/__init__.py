"""All models, imported here so that the metadata is complete wherever it is used."""

from portal.models.changes import ChangeMarker
from portal.models.enums import ACTIVE_STATUSES, Admission, EventStatus, RegistrationStatus
from portal.models.events import Event
from portal.models.outbox import MessageStatus, OutboxMessage
from portal.models.programmes import Programme
from portal.models.registrations import Registration

__all__ = [
    "ACTIVE_STATUSES",
    "Admission",
    "ChangeMarker",
    "Event",
    "MessageStatus",
    "OutboxMessage",
    "EventStatus",
    "Programme",
    "Registration",
    "RegistrationStatus",
]

"""All models, imported here so that the metadata is complete wherever it is used."""

from portal.models.audit import AuditEntry
from portal.models.changes import ChangeMarker
from portal.models.enums import ACTIVE_STATUSES, Admission, AuditActor, Endorsement, EventStatus, RegistrationStatus
from portal.models.events import Event
from portal.models.forms import ChoicePick, Questionnaire, Upload
from portal.models.limits import LimitScope, RateLimit
from portal.models.lookups import event_by_slug, find_event, programme_by_code
from portal.models.organisers import Organiser, SignInThrottle, ThrottleScope
from portal.models.outbox import MessageStatus, OutboxMessage
from portal.models.programmes import Programme
from portal.models.registrations import Registration

__all__ = [
    "ACTIVE_STATUSES",
    "Admission",
    "AuditActor",
    "AuditEntry",
    "ChangeMarker",
    "ChoicePick",
    "Endorsement",
    "Event",
    "MessageStatus",
    "Organiser",
    "OutboxMessage",
    "EventStatus",
    "LimitScope",
    "Programme",
    "Questionnaire",
    "RateLimit",
    "Registration",
    "RegistrationStatus",
    "SignInThrottle",
    "ThrottleScope",
    "Upload",
    "event_by_slug",
    "find_event",
    "programme_by_code",
]

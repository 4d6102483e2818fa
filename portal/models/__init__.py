"""All models, imported here so that the metadata is complete wherever it is used."""

from portal.models.audit import AuditEntry
from portal.models.changes import ChangeMarker
from portal.models.door import Certificate, CheckIn
from portal.models.enums import ACTIVE_STATUSES, Admission, AuditActor, Endorsement, EventStatus, RegistrationStatus
from portal.models.events import Event
from portal.models.forms import ChoicePick, Questionnaire, Upload
from portal.models.limits import LimitScope, RateLimit
from portal.models.lookups import PUBLIC_STATUSES, event_by_slug, find_event, programme_by_code, public_categories
from portal.models.mailings import EventMessage, Frequency, Mailing, MailingKind, Subscriber
from portal.models.notes import RegistrationNote
from portal.models.organisers import DataCanary, Organiser, OrganiserProgramme, OrganiserRole, SignInThrottle, ThrottleScope
from portal.models.outbox import MessageStatus, OutboxMessage
from portal.models.programmes import Programme
from portal.models.registrations import Registration
from portal.models.timetable import (
    EventSession,
    SessionCheckIn,
    SessionChoice,
    SessionKind,
    SessionSpeaker,
    SessionStatus,
    Speaker,
)

__all__ = [
    "ACTIVE_STATUSES",
    "PUBLIC_STATUSES",
    "Admission",
    "AuditActor",
    "AuditEntry",
    "Certificate",
    "ChangeMarker",
    "CheckIn",
    "ChoicePick",
    "Endorsement",
    "Event",
    "EventMessage",
    "EventSession",
    "Frequency",
    "Mailing",
    "MailingKind",
    "Subscriber",
    "MessageStatus",
    "DataCanary",
    "Organiser",
    "OrganiserProgramme",
    "OrganiserRole",
    "OutboxMessage",
    "EventStatus",
    "LimitScope",
    "Programme",
    "Questionnaire",
    "RateLimit",
    "Registration",
    "RegistrationNote",
    "SessionCheckIn",
    "SessionChoice",
    "SessionKind",
    "SessionSpeaker",
    "SessionStatus",
    "Speaker",
    "RegistrationStatus",
    "SignInThrottle",
    "ThrottleScope",
    "Upload",
    "event_by_slug",
    "find_event",
    "programme_by_code",
    "public_categories",
]

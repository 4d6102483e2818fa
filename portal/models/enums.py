"""The states things can be in. Stored as their lowercase values."""

from __future__ import annotations

import enum

from sqlalchemy import Enum


class Admission(enum.StrEnum):
    OPEN = "open"
    APPLICATION = "application"
    NOMINATION = "nomination"


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class RegistrationStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class Endorsement(enum.StrEnum):
    """A nominating authority's word on a nomination (registrations.endorsement)."""

    AWAITING = "awaiting"
    ENDORSED = "endorsed"
    DECLINED = "declined"


class AuditActor(enum.StrEnum):
    """Who made a change the audit log records."""

    ORGANISER = "organiser"  # a signed-in organiser (audit_entries.organiser_id says which)
    COMMAND_LINE = "command_line"  # someone at the `portal` command
    PARTICIPANT = "participant"  # the registrant, through the link in their emails
    PORTAL = "portal"  # the portal itself, because of another change (a freed seat promotes)


# A registration in one of these states blocks the same email from registering again.
ACTIVE_STATUSES = (
    RegistrationStatus.PENDING,
    RegistrationStatus.CONFIRMED,
    RegistrationStatus.WAITLISTED,
)


def enum_column(enum_cls: type[enum.Enum], name: str, *, constraint: bool = True) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, the same on every engine.
    Without `constraint` for a column added in place to an existing table: SQLite cannot add
    a CHECK with a column, so the values are held by the application alone."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=constraint,
        length=20,
        values_callable=lambda cls: [m.value for m in cls],
        validate_strings=True,
    )

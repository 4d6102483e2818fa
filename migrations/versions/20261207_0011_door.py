"""At the door and after: registrations' check-in codes (for tickets), check-ins per day,
certificates of attendance, and events' certificate rule

Reviewed by hand. New tables, and nullable columns added in place (a batch would rebuild
registrations and events and lose their search triggers, 0003 and 0007). Every registration
confirmed now gets its check-in code, so tickets work for everyone already confirmed; one
already checked in gets a check-in on the day it was checked in (in its event's zone), so
attendance per day starts from what the door recorded. Downgrade drops what upgrade added;
registrations keep checked_in_at.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:00:00
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# Crockford's base 32: no I, L, O or U, so a code read aloud or typed is hard to get wrong.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(10))


def _utc(value: object) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def upgrade() -> None:
    op.add_column('registrations', sa.Column('checkin_code', sa.String(length=32), nullable=True))
    op.create_index('uq_registrations_checkin_code', 'registrations', ['checkin_code'], unique=True)
    op.add_column('events', sa.Column('certificate_rule', sa.JSON(), nullable=True))
    op.create_table(
        'check_ins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('scan_id', sa.String(length=64), nullable=True),
        sa.Column('door', sa.String(length=100), nullable=False),
        sa.Column('organiser_id', sa.Integer(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_check_ins_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organiser_id'], ['organisers.id'], name=op.f('fk_check_ins_organiser_id_organisers'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_check_ins_registration_id_registrations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_check_ins')),
    )
    op.create_index('ix_check_ins_event_id_day', 'check_ins', ['event_id', 'day'], unique=False)
    op.create_index('ix_check_ins_registration_id_day', 'check_ins', ['registration_id', 'day'], unique=False)
    op.create_index('uq_check_ins_scan_id', 'check_ins', ['scan_id'], unique=True)
    op.create_table(
        'certificates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=True),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.Column('shows', sa.JSON(), nullable=False),
        sa.Column('issued_at', UTCDateTime(), nullable=False),
        sa.Column('issued_by', sa.Integer(), nullable=True),
        sa.Column('revoked_at', UTCDateTime(), nullable=True),
        sa.Column('revoked_reason', sa.String(length=300), nullable=False),
        sa.Column('replaced_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_certificates_event_id_events'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['issued_by'], ['organisers.id'], name=op.f('fk_certificates_issued_by_organisers'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_certificates_registration_id_registrations'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
        sa.UniqueConstraint('code', name=op.f('uq_certificates_code')),
    )
    op.create_index('ix_certificates_registration_id', 'certificates', ['registration_id'], unique=False)

    conn = op.get_bind()
    confirmed = conn.execute(sa.text("SELECT id FROM registrations WHERE status = 'confirmed' AND checkin_code IS NULL")).scalars().all()
    for registration_id in confirmed:
        conn.execute(sa.text("UPDATE registrations SET checkin_code = :code WHERE id = :id"), {"code": _code(), "id": registration_id})
    came = conn.execute(sa.text(
        "SELECT r.id, r.event_id, r.checked_in_at, e.timezone FROM registrations r JOIN events e ON e.id = r.event_id"
        " WHERE r.checked_in_at IS NOT NULL"
    )).all()
    check_ins = sa.table(
        'check_ins', sa.column('event_id'), sa.column('registration_id'), sa.column('day'), sa.column('at', UTCDateTime()),
        sa.column('door'), sa.column('created_at', UTCDateTime()),
    )
    now = datetime.now(timezone.utc)
    rows = [
        {"event_id": event_id, "registration_id": registration_id, "day": _utc(at).astimezone(ZoneInfo(zone)).date(),
         "at": _utc(at), "door": "", "created_at": now}
        for registration_id, event_id, at, zone in came
    ]
    if rows:
        op.bulk_insert(check_ins, rows)


def downgrade() -> None:
    op.drop_index('ix_certificates_registration_id', table_name='certificates')
    op.drop_table('certificates')
    op.drop_index('uq_check_ins_scan_id', table_name='check_ins')
    op.drop_index('ix_check_ins_registration_id_day', table_name='check_ins')
    op.drop_index('ix_check_ins_event_id_day', table_name='check_ins')
    op.drop_table('check_ins')
    op.drop_column('events', 'certificate_rule')
    op.drop_index('uq_registrations_checkin_code', table_name='registrations')
    op.drop_column('registrations', 'checkin_code')

"""organisers, sign-in throttling, the audit log, and roster indexes on registrations

Reviewed by hand: times are timestamptz on PostgreSQL (UTC text on SQLite); enums are
VARCHAR with a CHECK, as in 0001; the roster indexes lead with event_id and end with id,
so a page of one event's roster sorted by any column, with a (value, id) cursor, is an
index range scan on both engines; (event_id, id) serves the export's batches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

ROSTER_INDEXES = {
    'ix_registrations_event_id_name_id': ['event_id', 'name', 'id'],
    'ix_registrations_event_id_email_id': ['event_id', 'email', 'id'],
    'ix_registrations_event_id_organisation_id': ['event_id', 'organisation', 'id'],
    'ix_registrations_event_id_created_at_id': ['event_id', 'created_at', 'id'],
    'ix_registrations_event_id_checked_in_at_id': ['event_id', 'checked_in_at', 'id'],
    'ix_registrations_event_id_status_id': ['event_id', 'status', 'id'],
    'ix_registrations_event_id_id': ['event_id', 'id'],
}


def upgrade() -> None:
    op.create_table('organisers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisers')),
    sa.UniqueConstraint('email', name=op.f('uq_organisers_email'))
    )

    op.create_table('sign_in_throttle',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Enum('account', 'address', name='throttle_scope', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('key', sa.String(length=254), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_throttle')),
    sa.UniqueConstraint('scope', 'key', name=op.f('uq_sign_in_throttle_scope_key'))
    )
    op.create_index('ix_sign_in_throttle_updated_at', 'sign_in_throttle', ['updated_at'], unique=False)

    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organiser_id', sa.Integer(), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organiser_id'], ['organisers.id'], name=op.f('fk_audit_entries_organiser_id_organisers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_audit_entries_event_id_events'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_audit_entries_registration_id_registrations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    op.create_index('ix_audit_entries_event_id_id', 'audit_entries', ['event_id', 'id'], unique=False)
    op.create_index('ix_audit_entries_registration_id_id', 'audit_entries', ['registration_id', 'id'], unique=False)

    # CREATE INDEX works in place on SQLite too: no batch rebuild of registrations needed.
    for name, columns in ROSTER_INDEXES.items():
        op.create_index(name, 'registrations', columns, unique=False)


def downgrade() -> None:
    for name in reversed(ROSTER_INDEXES):
        op.drop_index(name, table_name='registrations')

    op.drop_index('ix_audit_entries_registration_id_id', table_name='audit_entries')
    op.drop_index('ix_audit_entries_event_id_id', table_name='audit_entries')
    op.drop_table('audit_entries')

    op.drop_index('ix_sign_in_throttle_updated_at', table_name='sign_in_throttle')
    op.drop_table('sign_in_throttle')

    op.drop_table('organisers')

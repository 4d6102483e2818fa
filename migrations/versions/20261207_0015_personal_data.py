"""personal_data: retention, sealed answers, erasure, organiser roles (issue 22)

Reviewed by hand. Everything is added; nothing existing changes meaning.
- programmes.retention: an ISO 8601 period (P24M); NULL means the site's PORTAL_RETENTION.
- registrations.sealed_answers: the sensitive answers as one Fernet token (portal.sealing);
  registrations.anonymised_at: when the personal data was removed; registrations.kept_reason:
  what an erasure kept and why ('' for every existing row).
- uploads.sealed: the file on disk is encrypted (false for every existing file, which stays
  readable as it is).
- organisers.role: organiser, programme_manager or door; every existing account keeps what it
  could do ('organiser'). Held by the application, not a CHECK: SQLite cannot add a CHECK
  with a column. organiser_programmes: the programmes a programme manager runs.
- data_canary: one value sealed with the data keys, to prove at start that they are right.
- ix_audit_entries_action_created_at: the data-access log reads exports and reveals by period.
Downgrade drops all of it: sealed answers and the canary are lost with their columns, so
decrypt first (there is no command for that: a downgrade past 0015 is for an empty database).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('programmes', sa.Column('retention', sa.String(length=20), nullable=True))
    op.add_column('registrations', sa.Column('sealed_answers', sa.Text(), nullable=True))
    op.add_column('registrations', sa.Column('anonymised_at', UTCDateTime(), nullable=True))
    op.add_column('registrations', sa.Column('kept_reason', sa.String(length=300), server_default='', nullable=False))
    op.add_column('uploads', sa.Column('sealed', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('organisers', sa.Column(
        'role', sa.Enum('organiser', 'programme_manager', 'door', name='organiser_role', native_enum=False, length=20),
        server_default='organiser', nullable=False,
    ))
    op.create_table('organiser_programmes',
    sa.Column('organiser_id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['organiser_id'], ['organisers.id'], name=op.f('fk_organiser_programmes_organiser_id_organisers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['programme_id'], ['programmes.id'], name=op.f('fk_organiser_programmes_programme_id_programmes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organiser_id', 'programme_id', name=op.f('pk_organiser_programmes'))
    )
    op.create_table('data_canary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_canary'))
    )
    op.create_index('ix_audit_entries_action_created_at', 'audit_entries', ['action', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_entries_action_created_at', table_name='audit_entries')
    op.drop_table('data_canary')
    op.drop_table('organiser_programmes')
    op.drop_column('organisers', 'role')
    op.drop_column('uploads', 'sealed')
    op.drop_column('registrations', 'kept_reason')
    op.drop_column('registrations', 'anonymised_at')
    op.drop_column('registrations', 'sealed_answers')
    op.drop_column('programmes', 'retention')

"""registration_notes: organisers' internal notes on a registration (issue 21)

Reviewed by hand. One new table: nothing existing changes. A note belongs to its
registration (deleted with it) and names the organiser who wrote it (NULL once that account
is gone; accounts are deactivated, so in practice it stays). Notes are for organisers only:
nothing a participant sees reads this table. Downgrade drops the table and its notes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 15:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registration_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('organiser_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organiser_id'], ['organisers.id'], name=op.f('fk_registration_notes_organiser_id_organisers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_registration_notes_registration_id_registrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_notes'))
    )
    op.create_index('ix_registration_notes_registration_id_id', 'registration_notes', ['registration_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_registration_notes_registration_id_id', table_name='registration_notes')
    op.drop_table('registration_notes')

"""rate limits: uses of the registration form per client address and per email address

Reviewed by hand, in the style of 0002: the scope is VARCHAR with a CHECK; times are
timestamptz on PostgreSQL (UTC text on SQLite). One row per (scope, key), locked while a
use is counted, so that every process on every host counts against the same row.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-27 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_limits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Enum('register_ip', 'register_email', name='limit_scope', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('key', sa.String(length=254), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_limits')),
    sa.UniqueConstraint('scope', 'key', name=op.f('uq_rate_limits_scope_key'))
    )
    op.create_index('ix_rate_limits_updated_at', 'rate_limits', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rate_limits_updated_at', table_name='rate_limits')
    op.drop_table('rate_limits')

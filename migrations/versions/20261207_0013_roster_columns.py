"""organisers.roster_columns: the roster columns an organiser chose to see (issue 21)

Reviewed by hand. One nullable JSON column, a list of column names; NULL (every account
until its organiser picks) means the default columns, so nothing existing changes. Downgrade
drops the column: each organiser sees the default columns again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTERs, not batch mode: SQLite's table rebuild would trip over the foreign keys
    # that point at organisers, and it can add and drop a plain column in place.
    op.add_column('organisers', sa.Column('roster_columns', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('organisers', 'roster_columns')

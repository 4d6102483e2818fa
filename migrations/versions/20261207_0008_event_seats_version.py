"""events.seats_version: a counter each transaction that changes an event's registrations
raises, so that registering no longer moves the site-wide change marker

Reviewed by hand. Before this, every registration bumped the one change marker, which
dropped every kept page and feed of the whole site in every process, and made every
registration on PostgreSQL wait for the one marker row. Now a registration raises only its
event's seats_version (its row is locked by the registration already), which the roster's
kept numbers are checked against; the marker moves only when something else public changes.
Existing events start at 0.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# Plain ADD and DROP COLUMN, not a batch: SQLite (3.35 and later) does both in place, and a
# batch would rebuild the table and lose the search index's triggers on it (0007).


def upgrade() -> None:
    op.add_column('events', sa.Column('seats_version', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('events', 'seats_version')

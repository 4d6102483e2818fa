"""registrations.search_text: what the back office searches, kept by the database and indexed

Reviewed by hand. The column is generated: lower(name, email and organisation joined by line
breaks), VIRTUAL on SQLite (the only kind ALTER TABLE can add there; the index stores it) and
STORED on PostgreSQL (the only kind before 18). The index (event_id, status, search_text)
holds the text, so a search of one event's roster, or of its confirmed people at the door,
reads the index alone instead of every row.

Follows 0004 (rate limits), which was written alongside it and landed first, so that the
history stays one line.

Revision ID: 0003
Revises: 0004
Create Date: 2026-11-27 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0004'
branch_labels = None
depends_on = None

# The same expression as models.registrations.SEARCH_TEXT, written out: a migration keeps
# what it did even if the model changes later.
SEARCH_TEXT = "lower(name || '\n' || email || '\n' || organisation)"


def upgrade() -> None:
    # Said outright on PostgreSQL: from 18 an unqualified generated column is VIRTUAL, which
    # cannot be indexed. SQLite takes no keyword here (VIRTUAL is its default).
    persisted = True if op.get_bind().dialect.name == 'postgresql' else None
    op.add_column('registrations', sa.Column('search_text', sa.Text(), sa.Computed(SEARCH_TEXT, persisted=persisted), nullable=True))
    op.create_index('ix_registrations_event_id_status_search_text', 'registrations', ['event_id', 'status', 'search_text'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_registrations_event_id_status_search_text', table_name='registrations')
    op.drop_column('registrations', 'search_text')

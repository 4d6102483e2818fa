"""audit_entries.actor: who made the change, so that a participant's own changes and the
portal's automatic ones can be logged beside organisers'

Reviewed by hand. Before this, organiser_id alone told who acted: an organiser, or (None)
the command line. The new column is VARCHAR with a CHECK, like the other enums; the rows
already there get 'command_line' where no organiser is named, 'organiser' otherwise.
SQLite cannot add a CHECK constraint to a table, so the table is rebuilt there (batch mode).

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-28 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None

ACTORS = ('organiser', 'command_line', 'participant', 'portal')


def upgrade() -> None:
    with op.batch_alter_table('audit_entries') as batch:
        batch.add_column(sa.Column(
            'actor',
            sa.Enum(*ACTORS, name='audit_actor', native_enum=False, create_constraint=True, length=20),
            server_default=sa.text("'organiser'"), nullable=False,
        ))
    op.execute("UPDATE audit_entries SET actor = 'command_line' WHERE organiser_id IS NULL")


def downgrade() -> None:
    # The participant's and the portal's entries go with the column: without it they would
    # read as the command line's.
    op.execute("DELETE FROM audit_entries WHERE actor IN ('participant', 'portal')")
    with op.batch_alter_table('audit_entries') as batch:
        # Named first: SQLite's rebuild would otherwise copy the CHECK onto a table without
        # the column it checks.
        batch.drop_constraint(op.f('ck_audit_entries_audit_actor'), type_='check')
        batch.drop_column('actor')

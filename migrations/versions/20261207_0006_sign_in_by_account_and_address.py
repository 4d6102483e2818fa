"""sign-in throttling by account and address together: a third scope (one account from one
address), the account's pacing, and the addresses an account signed in from

Reviewed by hand. The scope's CHECK is replaced to admit 'account_address'; the key grows
to 400 characters, room for an address, a space and a 254-character email address. An
account is no longer locked as a whole (it is paced instead), so the account locks in
place now are lifted. SQLite cannot change a CHECK or a column's type in place, so the table
is rebuilt there (batch mode); the old CHECK is dropped by name first, or the rebuild would
copy it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

CHECK = 'ck_sign_in_throttle_throttle_scope'
SCOPES_BEFORE = ('account', 'address')
SCOPES = ('account', 'address', 'account_address')


def _scopes(scopes: tuple[str, ...]) -> str:
    return "scope IN (" + ", ".join(f"'{s}'" for s in scopes) + ")"


def upgrade() -> None:
    with op.batch_alter_table('sign_in_throttle') as batch:
        batch.drop_constraint(op.f(CHECK), type_='check')
        batch.alter_column('key', existing_type=sa.String(length=254), type_=sa.String(length=400), existing_nullable=False)
        batch.add_column(sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('signed_in_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(op.f(CHECK), _scopes(SCOPES))
    op.execute("UPDATE sign_in_throttle SET locked_until = NULL WHERE scope = 'account'")


def downgrade() -> None:
    # The pairs go with their scope; what the other rows counted stays.
    op.execute("DELETE FROM sign_in_throttle WHERE scope = 'account_address'")
    with op.batch_alter_table('sign_in_throttle') as batch:
        batch.drop_constraint(op.f(CHECK), type_='check')
        batch.drop_column('signed_in_at')
        batch.drop_column('next_check_at')
        batch.alter_column('key', existing_type=sa.String(length=400), type_=sa.String(length=254), existing_nullable=False)
        batch.create_check_constraint(op.f(CHECK), _scopes(SCOPES_BEFORE))

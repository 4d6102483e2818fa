"""Subscribers to new events, organisers' messages, and mailings (the fan-out jobs of
announcements, digests, messages, reminders and follow-ups); events' reminder schedule and
follow-up; outbox rows that know their mailing and carry extra headers; new rate-limit scopes

Reviewed by hand. New tables only, plus nullable columns: added to events in place (a batch would
rebuild events and lose the search index's triggers, 0007); the outbox is rebuilt on SQLite
to take its named foreign key to mailings. rate_limits is dropped and made again
with the new scopes in its CHECK: its rows are counts of the current minute, so the worst a
deploy costs is one minute's allowance begun again; the lost-link scopes (the participants'
"lost your link?" form, issue 21) and the certificates' verification scope (issue 19) are
added now so that the table is made again once. Events published already get an announcement marked done, so that publishing one
again does not announce it as new. Downgrade drops what upgrade added; outbox rows keep
their messages and lose only their link to a mailing and their extra headers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OLD_SCOPES = ('register_ip', 'register_email')
NEW_SCOPES = (*OLD_SCOPES, 'subscribe_ip', 'subscribe_email', 'lost_link_ip', 'lost_link_email', 'verify_ip')


def _rate_limits(scopes: tuple[str, ...]) -> None:
    op.drop_table('rate_limits')
    op.create_table(
        'rate_limits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.Enum(*scopes, name='limit_scope', native_enum=False, create_constraint=True, length=20), nullable=False),
        sa.Column('key', sa.String(length=254), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.Column('window_started_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_limits')),
        sa.UniqueConstraint('scope', 'key', name=op.f('uq_rate_limits_scope_key')),
    )
    op.create_index('ix_rate_limits_updated_at', 'rate_limits', ['updated_at'], unique=False)


def upgrade() -> None:
    op.create_table(
        'subscribers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('frequency', sa.Enum('each', 'weekly', name='subscriber_frequency', native_enum=False, create_constraint=True, length=20), nullable=False),
        sa.Column('programmes', sa.JSON(), nullable=False),
        sa.Column('categories', sa.JSON(), nullable=False),
        sa.Column('confirmed_at', UTCDateTime(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscribers')),
        sa.UniqueConstraint('email', name=op.f('uq_subscribers_email')),
        sa.UniqueConstraint('token', name=op.f('uq_subscribers_token')),
        # The audit log names subscribers by id: SQLite must not reuse a departed one's.
        sqlite_autoincrement=True,
    )
    op.create_index('ix_subscribers_frequency_id', 'subscribers', ['frequency', 'id'], unique=False)
    op.create_index('ix_subscribers_created_at', 'subscribers', ['created_at'], unique=False)
    op.create_table(
        'event_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('organiser_id', sa.Integer(), nullable=True),
        sa.Column('sender', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('audience', sa.JSON(), nullable=False),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_messages_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organiser_id'], ['organisers.id'], name=op.f('fk_event_messages_organiser_id_organisers'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_messages')),
        sa.UniqueConstraint('nonce', name=op.f('uq_event_messages_nonce')),
    )
    op.create_index('ix_event_messages_event_id_created_at', 'event_messages', ['event_id', 'created_at'], unique=False)
    op.create_table(
        'mailings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.Enum('announce', 'digest', 'message', 'reminder', 'followup', name='mailing_kind', native_enum=False, create_constraint=True, length=20), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('due_at', UTCDateTime(), nullable=False),
        sa.Column('cursor', sa.Integer(), nullable=False),
        sa.Column('queued', sa.Integer(), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_mailings_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['message_id'], ['event_messages.id'], name=op.f('fk_mailings_message_id_event_messages'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mailings')),
        sa.UniqueConstraint('key', name=op.f('uq_mailings_key')),
    )
    op.create_index('ix_mailings_finished_at_due_at', 'mailings', ['finished_at', 'due_at'], unique=False)
    # A batch: SQLite adds no named foreign key in place (a column-level REFERENCES keeps no
    # name it can read back), so the outbox, which has no triggers, is made again there;
    # PostgreSQL alters it in place.
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('mailing_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_outbox_mailing_id_mailings'), 'mailings', ['mailing_id'], ['id'], ondelete='SET NULL')
    op.add_column('outbox', sa.Column('headers', sa.JSON(), nullable=True))
    op.create_index('ix_outbox_mailing_id_status', 'outbox', ['mailing_id', 'status'], unique=False)
    op.create_index('ix_outbox_status_mailing_id_next_attempt_at', 'outbox', ['status', 'mailing_id', 'next_attempt_at'], unique=False)
    op.create_index('ix_outbox_to_address_created_at', 'outbox', ['to_address', 'created_at'], unique=False)
    op.add_column('events', sa.Column('reminders', sa.JSON(), nullable=True))
    op.add_column('events', sa.Column('followup', sa.JSON(), nullable=True))
    _rate_limits(NEW_SCOPES)
    # The events published already were announced, as far as anyone knows, the way they
    # were before: publishing one of them again must not announce it as new.
    op.execute(
        "INSERT INTO mailings (key, kind, event_id, due_at, cursor, queued, note, created_at, finished_at)"
        " SELECT 'announce:' || CAST(id AS VARCHAR(20)), 'announce', id, CURRENT_TIMESTAMP, 0, 0,"
        " 'published before announcements', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM events WHERE status = 'published'"
    )


def downgrade() -> None:
    _rate_limits(OLD_SCOPES)
    op.drop_column('events', 'followup')
    op.drop_column('events', 'reminders')
    op.drop_index('ix_outbox_to_address_created_at', table_name='outbox')
    op.drop_index('ix_outbox_status_mailing_id_next_attempt_at', table_name='outbox')
    op.drop_index('ix_outbox_mailing_id_status', table_name='outbox')
    if op.get_context().dialect.name == 'sqlite':
        # SQLite drops no column that a REFERENCES clause names: the table is made again
        # (outbox has no triggers to lose).
        with op.batch_alter_table('outbox', recreate='always') as batch:
            batch.drop_column('headers')
            batch.drop_column('mailing_id')
    else:
        op.drop_column('outbox', 'headers')
        op.drop_column('outbox', 'mailing_id')
    op.drop_index('ix_mailings_finished_at_due_at', table_name='mailings')
    op.drop_table('mailings')
    op.drop_index('ix_event_messages_event_id_created_at', table_name='event_messages')
    op.drop_table('event_messages')
    op.drop_index('ix_subscribers_created_at', table_name='subscribers')
    op.drop_index('ix_subscribers_frequency_id', table_name='subscribers')
    op.drop_table('subscribers')

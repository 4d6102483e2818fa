"""initial schema: programmes, events, registrations, the outbox and the change marker

Reviewed by hand: times are timestamptz on PostgreSQL (UTC text on SQLite), enums are
VARCHAR with a CHECK so both engines agree, and one active registration per email and event
is a partial unique index.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 18:39:13.389596
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('change_marker',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_marker'))
    )
    op.execute("INSERT INTO change_marker (id, version) VALUES (1, 0)")
    op.create_table('programmes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('admission', sa.Enum('open', 'application', 'nomination', name='admission', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programmes')),
    sa.UniqueConstraint('code', name=op.f('uq_programmes_code'))
    )
    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=80), nullable=False),
    sa.Column('slug', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('all_day', sa.Boolean(), nullable=False),
    sa.Column('venue', sa.String(length=300), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('online_url', sa.String(length=500), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('waitlist', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', 'cancelled', name='event_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('registration_opens_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registration_closes_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('speakers', sa.JSON(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programmes.id'], name=op.f('fk_events_programme_id_programmes'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('slug', name=op.f('uq_events_slug')),
    sa.UniqueConstraint('uid', name=op.f('uq_events_uid'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_programme_id_starts_at', ['programme_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_events_status_starts_at', ['status', 'starts_at'], unique=False)

    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'confirmed', 'waitlisted', 'cancelled', 'rejected', name='registration_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('waitlisted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consented_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_registrations_event_id_events'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations')),
    sa.UniqueConstraint('token', name=op.f('uq_registrations_token'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index('ix_registrations_email', ['email'], unique=False)
        batch_op.create_index('ix_registrations_event_id_status', ['event_id', 'status'], unique=False)
        batch_op.create_index('uq_registrations_event_id_email_active', ['event_id', 'email'], unique=True, sqlite_where=sa.text("status IN ('pending', 'confirmed', 'waitlisted')"), postgresql_where=sa.text("status IN ('pending', 'confirmed', 'waitlisted')"))

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('queued', 'sent', 'failed', name='message_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('registration_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_outbox_event_id_events'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_outbox_registration_id_registrations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next_attempt_at')

    op.drop_table('outbox')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('uq_registrations_event_id_email_active', sqlite_where=sa.text("status IN ('pending', 'confirmed', 'waitlisted')"), postgresql_where=sa.text("status IN ('pending', 'confirmed', 'waitlisted')"))
        batch_op.drop_index('ix_registrations_event_id_status')
        batch_op.drop_index('ix_registrations_email')

    op.drop_table('registrations')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_status_starts_at')
        batch_op.drop_index('ix_events_programme_id_starts_at')

    op.drop_table('events')
    op.drop_table('programmes')
    op.drop_table('change_marker')

"""Conference timetables: speakers, an event's sessions, who speaks in them, the sessions a
registration chose (holding a place or waiting for one), and check-ins at a session's door

Reviewed by hand. New tables only: nothing existing changes, so every event is as it was (an
event with no sessions shows no timetable). Downgrade drops the five tables, children first.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 07:01:06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.db import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('speakers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('guid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('affiliation', sa.String(length=300), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('bio', sa.Text(), nullable=False),
    sa.Column('photo', sa.String(length=100), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_speakers')),
    sa.UniqueConstraint('guid', name=op.f('uq_speakers_guid')),
    sa.UniqueConstraint('key', name=op.f('uq_speakers_key'))
    )
    op.create_table('event_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('uid', sa.String(length=80), nullable=False),
    sa.Column('guid', sa.String(length=36), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('kind', sa.Enum('keynote', 'panel', 'workshop', 'talk', 'break', 'meal', name='session_kind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('ends_at', UTCDateTime(), nullable=False),
    sa.Column('room', sa.String(length=200), nullable=False),
    sa.Column('track', sa.String(length=200), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('choose', sa.Boolean(), nullable=False),
    sa.Column('places', sa.Integer(), nullable=True),
    sa.Column('waitlist', sa.Boolean(), nullable=False),
    sa.Column('check_in', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('scheduled', 'cancelled', name='session_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_sessions_event_id_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_sessions')),
    sa.UniqueConstraint('event_id', 'key', name='uq_event_sessions_event_id_key'),
    sa.UniqueConstraint('guid', name=op.f('uq_event_sessions_guid')),
    sa.UniqueConstraint('uid', name=op.f('uq_event_sessions_uid'))
    )
    op.create_index('ix_event_sessions_event_id_starts_at', 'event_sessions', ['event_id', 'starts_at'], unique=False)

    op.create_table('session_check_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('organiser_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_session_check_ins_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organiser_id'], ['organisers.id'], name=op.f('fk_session_check_ins_organiser_id_organisers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_session_check_ins_registration_id_registrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['event_sessions.id'], name=op.f('fk_session_check_ins_session_id_event_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_check_ins')),
    sa.UniqueConstraint('session_id', 'registration_id', name='uq_session_check_ins_session_id_registration_id')
    )
    op.create_table('session_choices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('waiting', sa.Boolean(), nullable=False),
    sa.Column('waiting_since', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_session_choices_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_session_choices_registration_id_registrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['event_sessions.id'], name=op.f('fk_session_choices_session_id_event_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_choices')),
    sa.UniqueConstraint('registration_id', 'session_id', name='uq_session_choices_registration_id_session_id')
    )
    op.create_index('ix_session_choices_event_id', 'session_choices', ['event_id'], unique=False)
    op.create_index('ix_session_choices_session_id_waiting', 'session_choices', ['session_id', 'waiting'], unique=False)

    op.create_table('session_speakers',
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('speaker_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['event_sessions.id'], name=op.f('fk_session_speakers_session_id_event_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['speaker_id'], ['speakers.id'], name=op.f('fk_session_speakers_speaker_id_speakers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_id', 'speaker_id', name=op.f('pk_session_speakers'))
    )
    op.create_index('ix_session_speakers_speaker_id', 'session_speakers', ['speaker_id'], unique=False)



def downgrade() -> None:
    op.drop_index('ix_session_speakers_speaker_id', table_name='session_speakers')

    op.drop_table('session_speakers')
    op.drop_index('ix_session_choices_session_id_waiting', table_name='session_choices')
    op.drop_index('ix_session_choices_event_id', table_name='session_choices')

    op.drop_table('session_choices')
    op.drop_table('session_check_ins')
    op.drop_index('ix_event_sessions_event_id_starts_at', table_name='event_sessions')

    op.drop_table('event_sessions')
    op.drop_table('speakers')

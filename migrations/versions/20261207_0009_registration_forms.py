"""Registration forms as data: the forms table (one per programme, per event that replaces
its programme's, and the site's default), the choices picked (for places per choice),
uploads, and a nomination's endorsement; the questions that were Python become forms

Reviewed by hand. Before this the programme questions lived in portal/forms (a dict from
programme code to WTForms fields), so a new question needed a release. The data part writes
those questions as forms under the same keys, so every answer already given keeps its
meaning:
- the site's default form (events with neither an own form nor a programme's): the
  position;
- every programme: the position, then the nomination questions if it admits by nomination,
  then its own: APPSMO and APPSNO rank, service and country; ISF-Asia the statement of
  purpose; TATC the billing contact, and the organisation required.
The nominating officer's email becomes the form's nominator question. Downgrade drops the
new tables and columns; answers stay in registrations.answers, which this never touches.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# The questions as they were in portal/forms/registration.py at 0008, in the import shape.
POSITION = {"key": "position", "type": "text", "label": "Position or job title", "max_length": 200}
NOMINATION = [
    {"key": "nominating_authority", "type": "text", "label": "Nominating authority", "required": True, "max_length": 200,
     "help": "The ministry, armed service or embassy that nominates you."},
    {"key": "nominator_email", "type": "email", "label": "Nominating officer's email", "nominator": True},
]
MILITARY = [
    {"key": "rank", "type": "text", "label": "Rank", "required": True, "max_length": 100},
    {"key": "service", "type": "text", "label": "Service or agency", "required": True, "max_length": 200,
     "help": "For example Army, Navy, Ministry of Defence."},
    {"key": "country", "type": "text", "label": "Country", "required": True, "max_length": 100},
]
STATEMENT = [
    {"key": "statement", "type": "textarea", "label": "Statement of purpose", "required": True,
     "min_length": 50, "max_length": 3000,
     "help": "Why you wish to take part and what you would bring (50 to 3,000 characters)."},
]
BILLING = [
    {"key": "billing_contact", "type": "text", "label": "Billing contact name", "required": True, "max_length": 200},
    {"key": "billing_email", "type": "email", "label": "Billing contact email", "required": True},
]
OWN = {"appsmo": MILITARY, "appsno": MILITARY, "isf-asia": STATEMENT, "tatc": BILLING}
ORGANISATION_REQUIRED = {"tatc"}


def questions_for(code: str, admission: str) -> list[dict]:
    return [POSITION, *(NOMINATION if admission == "nomination" else []), *OWN.get(code, [])]


def upgrade() -> None:
    op.create_table(
        'forms',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('programme_id', sa.Integer(), nullable=True),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.Column('questions', sa.JSON(), nullable=False),
        sa.Column('organisation_required', sa.Boolean(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('programme_id IS NULL OR event_id IS NULL', name=op.f('ck_forms_one_owner')),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_forms_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['programme_id'], ['programmes.id'], name=op.f('fk_forms_programme_id_programmes'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_forms')),
        sa.UniqueConstraint('event_id', name=op.f('uq_forms_event_id')),
        sa.UniqueConstraint('programme_id', name=op.f('uq_forms_programme_id')),
    )
    op.create_table(
        'choice_picks',
        sa.Column('registration_id', sa.Integer(), nullable=False),
        sa.Column('question_key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=100), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_choice_picks_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_choice_picks_registration_id_registrations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('registration_id', 'question_key', 'value', name=op.f('pk_choice_picks')),
    )
    op.create_index('ix_choice_picks_event_id_key_value', 'choice_picks', ['event_id', 'question_key', 'value'])
    op.create_table(
        'uploads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('stored_name', sa.String(length=64), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=True),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('question_key', sa.String(length=40), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_uploads_event_id_events'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['registration_id'], ['registrations.id'], name=op.f('fk_uploads_registration_id_registrations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads')),
        sa.UniqueConstraint('stored_name', name=op.f('uq_uploads_stored_name')),
    )
    op.create_index('ix_uploads_registration_id', 'uploads', ['registration_id'])
    # Plain ADD COLUMN, not a batch (see 0008): a batch would rebuild registrations. So no
    # CHECK on the endorsement's values (SQLite cannot add one with a column): the model's
    # enum holds them, on both engines alike.
    op.add_column('registrations', sa.Column(
        'endorsement', sa.Enum('awaiting', 'endorsed', 'declined', name='endorsement', native_enum=False, length=20), nullable=True,
    ))
    op.add_column('registrations', sa.Column('endorsement_token', sa.String(length=64), nullable=True))
    op.add_column('registrations', sa.Column('endorsement_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('uq_registrations_endorsement_token', 'registrations', ['endorsement_token'], unique=True)

    forms = sa.table(
        'forms',
        sa.column('programme_id', sa.Integer()), sa.column('event_id', sa.Integer()),
        sa.column('questions', sa.JSON()), sa.column('organisation_required', sa.Boolean()),
        sa.column('version', sa.Integer()), sa.column('created_at', sa.DateTime(timezone=True)), sa.column('updated_at', sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as UTCDateTime stores it there
    rows = [{"programme_id": None, "event_id": None, "questions": [POSITION], "organisation_required": False}]
    for programme_id, code, admission in connection.execute(sa.text("SELECT id, code, admission FROM programmes ORDER BY id")):
        rows.append({
            "programme_id": programme_id, "event_id": None, "questions": questions_for(code, admission),
            "organisation_required": code in ORGANISATION_REQUIRED,
        })
    op.bulk_insert(forms, [{**row, "version": 1, "created_at": now, "updated_at": now} for row in rows])


def downgrade() -> None:
    op.drop_index('uq_registrations_endorsement_token', table_name='registrations')
    op.drop_column('registrations', 'endorsement_at')
    op.drop_column('registrations', 'endorsement_token')
    op.drop_column('registrations', 'endorsement')
    op.drop_index('ix_uploads_registration_id', table_name='uploads')
    op.drop_table('uploads')
    op.drop_index('ix_choice_picks_event_id_key_value', table_name='choice_picks')
    op.drop_table('choice_picks')
    op.drop_table('forms')

"""Sequences: sequences, sequence_steps, sequence_enrolments, sequence_sends, sequence_history

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sequences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("stop_on_company_reply", sa.Boolean(), nullable=False),
        sa.Column("stop_on_auto_reply", sa.Boolean(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("window_start", sa.String(5), nullable=False),
        sa.Column("window_end", sa.String(5), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_sequences_team_id_teams"),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_sequences_created_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sequences"),
    )
    op.create_index("ix_sequences_team_id", "sequences", ["team_id"])
    op.create_table(
        "sequence_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("delay_days", sa.Integer(), nullable=False),
        sa.Column("same_thread", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["sequences.id"],
            name="fk_sequence_steps_sequence_id_sequences",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sequence_steps"),
        sa.UniqueConstraint("sequence_id", "position", name="uq_sequence_steps_sequence_position"),
    )
    op.create_table(
        "sequence_enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stop_reason", sa.String(32), nullable=True),
        sa.Column("active_slot", sa.Integer(), nullable=True),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("next_run_at", Stamp, nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("ended_at", Stamp, nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_sequence_enrolments_team_id_teams"),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["sequences.id"],
            name="fk_sequence_enrolments_sequence_id_sequences",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_sequence_enrolments_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["inbox_id"], ["inboxes.id"], name="fk_sequence_enrolments_inbox_id_inboxes"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sequence_enrolments_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_sequence_enrolments"),
        sa.UniqueConstraint("sequence_id", "contact_id", "active_slot", name="uq_sequence_enrolments_active"),
    )
    op.create_index("ix_sequence_enrolments_contact_id", "sequence_enrolments", ["contact_id"])
    op.create_index("ix_sequence_enrolments_team_status", "sequence_enrolments", ["team_id", "status"])
    op.create_table(
        "sequence_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["sequence_enrolments.id"],
            name="fk_sequence_sends_enrolment_id_sequence_enrolments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name="fk_sequence_sends_email_id_emails", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sequence_sends"),
        sa.UniqueConstraint("email_id", name="uq_sequence_sends_email_id"),
        sa.UniqueConstraint("enrolment_id", "position", name="uq_sequence_sends_enrolment_position"),
    )
    op.create_table(
        "sequence_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["sequence_enrolments.id"],
            name="fk_sequence_history_enrolment_id_sequence_enrolments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sequence_history"),
    )
    op.create_index("ix_sequence_history_enrolment_id", "sequence_history", ["enrolment_id"])


def downgrade() -> None:
    op.drop_table("sequence_history")
    op.drop_table("sequence_sends")
    op.drop_table("sequence_enrolments")
    op.drop_table("sequence_steps")
    op.drop_table("sequences")

"""Unread replies and contact profiles: email_reads (who has seen which logged inbound email),
contact_profiles (first/last name, job title, owner, lifecycle stage)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_reads",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_email_reads_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name="fk_email_reads_email_id_emails", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "email_id", name="pk_email_reads"),
    )
    op.create_index("ix_email_reads_email", "email_reads", ["email_id"])
    op.create_table(
        "contact_profiles",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("job_title", sa.String(200), nullable=False, server_default=""),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("lifecycle_stage", sa.String(40), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name="fk_contact_profiles_contact_id_contacts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_contact_profiles_owner_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("contact_id", name="pk_contact_profiles"),
    )


def downgrade() -> None:
    op.drop_table("contact_profiles")
    op.drop_index("ix_email_reads_email", table_name="email_reads")
    op.drop_table("email_reads")

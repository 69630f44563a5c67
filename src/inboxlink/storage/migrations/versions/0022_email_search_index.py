"""The blind search index: email_search_terms (keyed hashes of each email's normalised words) and
email_search_state (which key hashed an email); emails logged before are indexed by a job.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_search_terms",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.LargeBinary(16), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name="fk_email_search_terms_email_id_emails", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "term", "email_id", name="pk_email_search_terms"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_email_search_terms_email", "email_search_terms", ["email_id"])
    op.create_table(
        "email_search_state",
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["email_id"], ["emails.id"], name="fk_email_search_state_email_id_emails", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("email_id", name="pk_email_search_state"),
    )


def downgrade() -> None:
    op.drop_table("email_search_state")
    op.drop_index("ix_email_search_terms_email", table_name="email_search_terms")
    op.drop_table("email_search_terms")

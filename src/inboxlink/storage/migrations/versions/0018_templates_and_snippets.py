"""Templates and snippets: email_templates, snippets

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_email_templates_team_id_teams"),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_email_templates_created_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_email_templates"),
    )
    op.create_index("ix_email_templates_team_id", "email_templates", ["team_id"])
    op.create_table(
        "snippets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_snippets_team_id_teams"),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_snippets_created_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_snippets"),
        sa.UniqueConstraint("team_id", "shortcut", name="uq_snippets_team_shortcut"),
    )


def downgrade() -> None:
    op.drop_table("snippets")
    op.drop_index("ix_email_templates_team_id", table_name="email_templates")
    op.drop_table("email_templates")

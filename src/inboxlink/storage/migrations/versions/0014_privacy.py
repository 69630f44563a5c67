"""Privacy: never_log, team_privacy, privacy_audit, key_fingerprints, key_rotation

Revision ID: 0014
Revises: 0008
Create Date: 2026-12-02 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "never_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_never_log_team_id_teams"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_never_log_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_never_log_created_by_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_never_log"),
    )
    op.create_index("ix_never_log_team_value", "never_log", ["team_id", "value"])
    op.create_table(
        "team_privacy",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("internal_domains", sa.JSON(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("retention_last_run", Stamp, nullable=True),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_team_privacy_team_id_teams"),
        sa.PrimaryKeyConstraint("team_id", name="pk_team_privacy"),
    )
    op.create_table(
        "privacy_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject_hash", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_privacy_audit_team_id_teams"),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_audit"),
    )
    op.create_index("ix_privacy_audit_team_id", "privacy_audit", ["team_id"])
    op.create_index("ix_privacy_audit_subject_hash", "privacy_audit", ["subject_hash"])
    op.create_table(
        "key_fingerprints",
        sa.Column("generation", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("retired_at", Stamp, nullable=True),
        sa.PrimaryKeyConstraint("generation", name="pk_key_fingerprints"),
        sa.UniqueConstraint("fingerprint", name="uq_key_fingerprints_fingerprint"),
    )
    op.create_table(
        "key_rotation",
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("target", name="pk_key_rotation"),
    )


def downgrade() -> None:
    op.drop_table("key_rotation")
    op.drop_table("key_fingerprints")
    op.drop_index("ix_privacy_audit_subject_hash", table_name="privacy_audit")
    op.drop_index("ix_privacy_audit_team_id", table_name="privacy_audit")
    op.drop_table("privacy_audit")
    op.drop_table("team_privacy")
    op.drop_index("ix_never_log_team_value", table_name="never_log")
    op.drop_table("never_log")

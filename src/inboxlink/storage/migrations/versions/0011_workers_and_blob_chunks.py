"""workers (lease heartbeats) and blob_chunks (attachment bytes in the database)

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", Stamp, nullable=False),
        sa.Column("heartbeat_at", Stamp, nullable=False),
        sa.Column("expires_at", Stamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workers_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "blob_chunks",
        sa.Column("blob", sa.String(100), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("blob", "seq", name=op.f("pk_blob_chunks")),
    )
    # Leases of the previous scheme (each with its own expiry) point to no worker row: they count
    # as free, which is right only when every old worker has stopped — as for any migration.


def downgrade() -> None:
    op.drop_table("blob_chunks")
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workers_expires_at"))
    op.drop_table("workers")

"""blob_chunks.created_at: attachment bytes in the database, swept when orphaned and old enough

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 20:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a chunk without a stamp (none were written before this revision) counts as old.
    with op.batch_alter_table("blob_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blob_chunks", schema=None) as batch_op:
        batch_op.drop_column("created_at")

"""Event feed positions: handed out after commit, in one writer at a time (docs/webhooks.md)

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-02 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
    # Events already there are committed: their ids are their positions (so a cursor `evt_N` handed
    # out before this revision keeps its place).
    op.execute("UPDATE events SET position = id")
    op.create_index("ix_events_team_id_position", "events", ["team_id", "position"])
    op.create_index("uq_events_position", "events", ["position"], unique=True)
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
    op.execute("UPDATE webhook_deliveries SET position = event_id")
    op.create_index(
        "ix_webhook_deliveries_webhook_id_status_position",
        "webhook_deliveries",
        ["webhook_id", "status", "position"],
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_index(
        "ix_events_unpositioned",
        "events",
        ["id"],
        postgresql_where=sa.text("position IS NULL"),
        sqlite_where=sa.text("position IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook_id_status_position", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("position")
    op.drop_index("ix_events_unpositioned", table_name="events")
    op.drop_index("uq_events_position", table_name="events")
    op.drop_index("ix_events_team_id_position", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("position")

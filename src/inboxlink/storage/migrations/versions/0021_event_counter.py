"""Event feed positions from a counter that never goes back, and event ids never reused on SQLite

Positions used to be max(position) + 1: once the newest events were deleted (forgetting a contact
deletes its emails' events) the next events took positions a poller had already passed, and it
skipped them. On SQLite the row id had the same flaw (rowid = max + 1), so a new event could carry
the `evt_N` / webhook-id of a deleted one that a receiver had already seen and would drop as a
duplicate: the table gets AUTOINCREMENT.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 06:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_positions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last", sa.BigInteger(), nullable=False),
    )
    bind = op.get_bind()
    # What was handed out before this revision is known only as far as rows remain; the highest of
    # ids and positions is the best floor (ids were positions when 0017 numbered old events).
    top_position = bind.execute(sa.text("SELECT COALESCE(MAX(position), 0) FROM events")).scalar_one()
    top_id = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM events")).scalar_one()
    bind.execute(
        sa.text("INSERT INTO event_positions (id, last) VALUES (1, :last)"),
        {"last": max(int(top_position), int(top_id))},
    )
    if bind.dialect.name == "sqlite":
        # AUTOINCREMENT can only be given by rebuilding the table; the batch copies rows and indexes.
        with op.batch_alter_table(
            "events", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ) as batch:
            batch.alter_column("id", existing_type=sa.Integer())


def downgrade() -> None:
    op.drop_table("event_positions")

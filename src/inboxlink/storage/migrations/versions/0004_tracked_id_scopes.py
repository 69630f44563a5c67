"""tracked id scopes

Revision ID: 0004
Revises: 0003

A tracked id now says for whom it counts (domain.tracking): "team", "user:<id>" or "inbox:<id>".
Existing rows are scoped by the email they point to, which is the fix for installations that ran
without scopes:

* a CRM email's own Message-ID stays "team" (inboxlink chose it);
* another id pointing to a CRM email is a relay alias learned before aliases carried a MAC — it
  cannot be told from one an outsider planted with a copied X-Inboxlink-Id, so it keeps counting
  only for the inbox the email was sent from (where the genuine ones were learned);
* the id of mail found in a Sent folder or Bcc'd to the logging address: "user:<its user>";
* the id of a logged inbound reply: "inbox:<the inbox that received it>".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SCOPE_OF_ROW = """
UPDATE tracked_ids SET scope = (
    SELECT CASE
        WHEN e.source = 'crm' AND e.message_id = tracked_ids.message_id THEN 'team'
        WHEN e.source IN ('sent_folder', 'bcc') AND e.user_id IS NOT NULL
            THEN 'user:' || CAST(e.user_id AS VARCHAR(20))
        WHEN e.inbox_id IS NOT NULL THEN 'inbox:' || CAST(e.inbox_id AS VARCHAR(20))
        WHEN e.user_id IS NOT NULL THEN 'user:' || CAST(e.user_id AS VARCHAR(20))
        WHEN e.source = 'crm' THEN 'team'
        ELSE 'none'
    END
    FROM emails e WHERE e.id = tracked_ids.email_id
)
"""


def upgrade() -> None:
    with op.batch_alter_table("tracked_ids", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=40), server_default="team", nullable=False))
    op.execute(_SCOPE_OF_ROW)
    # An id whose email has neither inbox nor user counted for nobody we could name: drop it.
    op.execute("DELETE FROM tracked_ids WHERE scope = 'none'")
    with op.batch_alter_table("tracked_ids", schema=None) as batch_op:
        batch_op.drop_constraint("pk_tracked_ids", type_="primary")
        batch_op.create_primary_key("pk_tracked_ids", ["team_id", "message_id", "scope"])


def downgrade() -> None:
    # One row per (team, message_id) again: every id becomes team-wide (the old behaviour).
    op.execute(
        "DELETE FROM tracked_ids WHERE EXISTS (SELECT 1 FROM tracked_ids t2 WHERE "
        "t2.team_id = tracked_ids.team_id AND t2.message_id = tracked_ids.message_id "
        "AND t2.scope < tracked_ids.scope)"
    )
    with op.batch_alter_table("tracked_ids", schema=None) as batch_op:
        batch_op.drop_constraint("pk_tracked_ids", type_="primary")
        batch_op.create_primary_key("pk_tracked_ids", ["team_id", "message_id"])
        batch_op.drop_column("scope")

"""blob_chunks.created_at (orphaned database blobs are swept once old enough) and
email_contacts.created_at + ix_email_contacts_timeline (a contact's timeline page without a sort)

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
    with op.batch_alter_table("email_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    # The email's own stamp, copied once here; written with every new link from now on.
    op.execute(
        "UPDATE email_contacts SET created_at = "
        "(SELECT emails.created_at FROM emails WHERE emails.id = email_contacts.email_id)"
    )
    with op.batch_alter_table("email_contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_email_contacts_timeline", ["contact_id", "created_at", "email_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("email_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_email_contacts_timeline")
        batch_op.drop_column("created_at")
    with op.batch_alter_table("blob_chunks", schema=None) as batch_op:
        batch_op.drop_column("created_at")

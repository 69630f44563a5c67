"""email sender verification (DKIM/SPF verdict of BCC-logged mail)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: mail logged before this was never checked (null = "not checked").
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_verified", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("sender_verification", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_column("sender_verification")
        batch_op.drop_column("sender_verified")

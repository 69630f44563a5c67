"""What each user has read (issue 14): a row per (user, logged inbound email) once the user saw it
on a record. Unread = an inbound email of the user's team, logged since the user joined, with no
row here; so a new reply needs no write to be unread, and a team of ten costs one row per reader."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Table

from inboxlink.storage.tables import Stamp, metadata

email_reads = Table(
    "email_reads",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True),
    Column("read_at", Stamp, nullable=False),
    Index("ix_email_reads_email", "email_id"),
)

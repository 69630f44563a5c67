"""Tables of issue 14 item 6 (writing like in a mail client): each user's signature and the drafts
saved while they type. Both hold what a person writes, so both are sealed with the installation key
at rest (like mail bodies)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from inboxlink.storage.tables import Stamp, metadata

# One signature per user (plain text, sealed); no row → no signature.
signatures = Table(
    "signatures",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("text", Text, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

# A composer's unsent content: one per (user, contact, context) where context names what the
# composer answers ("new", "reply:<email id>", "forward:<email id>"). `body` is sealed JSON.
drafts = Table(
    "drafts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("context", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    UniqueConstraint("user_id", "contact_id", "context", name="uq_drafts_user_contact_context"),
)

"""The blind search index of emails (issue 14 item 3): keyed hashes of the normalised words of each
email's subject and body (domain.search_terms, services.crm.search_index), never the words. Rows go
with their email (ON DELETE CASCADE), so forgetting, erasing and retention leave none behind."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, String, Table

from inboxlink.storage.tables import Stamp, metadata

TERM_BYTES = 16

email_search_terms = Table(
    "email_search_terms",
    metadata,
    Column("team_id", Integer, primary_key=True),
    # HMAC-SHA256(key derived from the installation key, team + term), first 16 bytes.
    Column("term", LargeBinary(TERM_BYTES), primary_key=True),
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True),
    # The cascade (and re-indexing one email) finds an email's rows by this index.
    Index("ix_email_search_terms_email", "email_id"),
    # SQLite: the primary key is the table (no rowid copy of every row): half the bytes.
    sqlite_with_rowid=False,
)

# Which key hashed each indexed email: the backfill job takes the emails without a row, a key
# rotation re-hashes those under an older key.
email_search_state = Table(
    "email_search_state",
    metadata,
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True),
    Column("key_id", String(16), nullable=False),
    Column("indexed_at", Stamp, nullable=False),
)

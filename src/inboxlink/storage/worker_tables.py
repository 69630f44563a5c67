"""Tables of the scale-out machinery: the workers that hold inbox leases (one heartbeat row each, so a
worker renews all its leases with one UPDATE) and attachment bytes kept in the database in chunks
(PostgreSQL: no host keeps anything on its own disk)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, String, Table

from inboxlink.storage.tables import Stamp, metadata

workers = Table(
    "workers",
    metadata,
    # The lease owner: "host:pid:nonce" (inbox_leases.owner points here).
    Column("id", String(200), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Stamp, nullable=False),
    Column("heartbeat_at", Stamp, nullable=False),
    # A lease is valid while its owner's row has not expired; renewing is one UPDATE of this row.
    Column("expires_at", Stamp, nullable=False, index=True),
)

blob_chunks = Table(
    "blob_chunks",
    metadata,
    Column("blob", String(100), primary_key=True),
    Column("seq", Integer, primary_key=True),
    # One encrypted chunk (SecretBox token) of at most CHUNK plaintext bytes.
    Column("data", LargeBinary, nullable=False),
    # When the chunk was written (migration 0015): the orphan sweep leaves young blobs alone.
    Column("created_at", Stamp),
)

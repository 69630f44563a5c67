"""Tables of privacy over the data's life (issue 15): never-log lists, the team's privacy settings
(internal domains, retention), the audit of erasures, and the installation key's fingerprints with
the progress of a key rotation."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table

from inboxlink.storage.tables import Stamp, metadata

# One entry of a never-log list: `user_id` null → the team's list (admins), else that user's own.
# `value` is a folded address or an ASCII domain (domain.never_log.normalise_entry).
never_log = Table(
    "never_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE")),
    Column("value", String(320), nullable=False),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", Stamp, nullable=False),
    Index("ix_never_log_team_value", "team_id", "value"),
)

# Per team: internal domains (mail only among them is not logged) and retention (null: keep).
team_privacy = Table(
    "team_privacy",
    metadata,
    Column("team_id", ForeignKey("teams.id"), primary_key=True),
    Column("internal_domains", JSON, nullable=False),
    Column("retention_days", Integer),
    Column("retention_last_run", Stamp),
    Column("updated_at", Stamp, nullable=False),
)

# Who erased whom, when: never the address itself, only an HMAC of it under a key derived from the
# installation key, so a repeated request for the same person can be recognised.
privacy_audit = Table(
    "privacy_audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False, index=True),
    Column("actor", String(320), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject_hash", String(64), nullable=False, index=True),
    Column("details", JSON, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

# The installation key(s): a fingerprint (HMAC of a fixed text under the key, never the key) per
# generation. The newest generation is the key everything is (being) encrypted with; a process whose
# keys do not include it refuses to start.
key_fingerprints = Table(
    "key_fingerprints",
    metadata,
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("created_at", Stamp, nullable=False),
    Column("retired_at", Stamp),
)

# Progress of re-encrypting one kind of stored secret under generation `generation`: rows with an id
# up to `last_id` are done. Resumable after a crash: a rerun starts after `last_id`.
key_rotation = Table(
    "key_rotation",
    metadata,
    Column("target", String(32), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("done", Boolean, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

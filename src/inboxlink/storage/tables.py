"""The schema, as SQLAlchemy Core tables. Every change here comes with an Alembic migration."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Stamp = DateTime(timezone=True)

teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", Stamp, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False, index=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("password_hash", String(200), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    # Local part of the user's BCC logging address; unguessable, rotatable.
    Column("bcc_token", String(64), nullable=False, unique=True),
    # Part of every web session cookie; signing out bumps it, which ends all the user's sessions.
    Column("session_epoch", Integer, nullable=False, server_default="0"),
    Column("created_at", Stamp, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    # sha256 of the token: tokens are 256-bit random, so a fast hash is enough and lookups stay indexed.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Stamp, nullable=False),
)

inboxes = Table(
    "inboxes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False, index=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("email", String(320), nullable=False),
    Column("username", String(320), nullable=False),
    # Fernet token of {"password": ...}; never returned, never logged.
    Column("secret", LargeBinary, nullable=False),
    Column("imap_host", String(255), nullable=False),
    Column("imap_port", Integer, nullable=False),
    Column("imap_security", String(16), nullable=False),
    Column("smtp_host", String(255), nullable=False),
    Column("smtp_port", Integer, nullable=False),
    Column("smtp_security", String(16), nullable=False),
    Column("status", String(32), nullable=False),
    Column("disconnect_reason", String(64)),
    Column("disconnected_at", Stamp),
    Column("last_error", Text),
    Column("last_error_at", Stamp),
    Column("next_retry_at", Stamp),
    Column("last_sync_at", Stamp),
    Column("sent_folder", String(500)),
    Column("created_at", Stamp, nullable=False),
    Column("deleted_at", Stamp),
    # "password" (secret holds it) or "oauth2" (the tokens are in oauth_grants; secret holds only
    # the grant's id, so a new grant changes it like a new password does).
    Column("auth", String(16), nullable=False, server_default="password"),
    Column("provider", String(32)),  # "google" | "microsoft" for OAuth inboxes
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("company", String(200), nullable=False, default=""),
    Column("created_at", Stamp, nullable=False),
    UniqueConstraint("team_id", "email", name="uq_contacts_team_email"),
)

threads = Table(
    "threads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False, index=True),
    Column("subject", Text, nullable=False, default=""),
    Column("created_at", Stamp, nullable=False),
)

emails = Table(
    "emails",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("inbox_id", ForeignKey("inboxes.id")),
    Column("user_id", ForeignKey("users.id")),
    Column("thread_id", ForeignKey("threads.id"), nullable=False, index=True),
    Column("message_id", String(998)),
    # Exactly-once key: the Message-ID, or a digest of the message when it has none ("digest:…" of
    # sender, date, subject and text for mail read over IMAP; a sha256 of the bytes for BCC'd mail).
    Column("dedupe_key", String(998), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", JSON),
    Column("from_email", String(320), nullable=False, default=""),
    Column("from_name", String(200), nullable=False, default=""),
    Column("to_addrs", JSON, nullable=False),
    Column("cc_addrs", JSON, nullable=False),
    Column("bcc_addrs", JSON, nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("html", Text),
    Column("in_reply_to", String(998)),
    Column("references", JSON, nullable=False),
    Column("problems", JSON, nullable=False),
    Column("sent_at", Stamp),
    Column("sent_folder_copy", String(500)),
    Column("source", String(16), nullable=False),
    Column("created_at", Stamp, nullable=False),
    # BCC-logged mail: did DKIM/SPF prove the From domain sent it (null: not checked), and why.
    Column("sender_verified", Boolean),
    Column("sender_verification", String(300)),
    UniqueConstraint("team_id", "dedupe_key", name="uq_emails_team_dedupe"),
)

email_contacts = Table(
    "email_contacts",
    metadata,
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    # A copy of emails.created_at (migration 0015): the contact's timeline is read newest first from
    # ix_email_contacts_timeline alone, instead of sorting all of the contact's emails per page.
    Column("created_at", Stamp),
    Index("ix_email_contacts_contact", "contact_id"),
    Index("ix_email_contacts_timeline", "contact_id", "created_at", "email_id"),
)

# Every Message-ID that makes an incoming message a reply we log: our own ids, the ids of logged
# replies, and ids a relay gave our mail instead. `scope` says for whom it counts ("team",
# "user:<id>", "inbox:<id>": domain.tracking); one id may be tracked in several scopes. The key
# starts with (team_id, message_id), so a lookup stays one index probe per id.
tracked_ids = Table(
    "tracked_ids",
    metadata,
    Column("team_id", ForeignKey("teams.id"), primary_key=True),
    Column("message_id", String(998), primary_key=True),
    Column("scope", String(40), primary_key=True, server_default="team"),
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    # Blob file name under $DATA_DIR/attachments (a random name we chose, never the mail's filename).
    Column("blob", String(100)),
    Column("created_at", Stamp, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), nullable=False, unique=True),
    # pending → sending → done | failed. A job found in "sending" after a crash is never re-sent blindly.
    Column("state", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Stamp, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

folder_cursors = Table(
    "folder_cursors",
    metadata,
    Column("inbox_id", ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("folder", String(500), primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("highestmodseq", BigInteger),
    Column("uidvalidity_changes", Integer, nullable=False, default=0),
    Column("updated_at", Stamp, nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("inbox_id", ForeignKey("inboxes.id", ondelete="CASCADE")),
    Column("kind", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", Stamp, nullable=False),
    Column("resolved_at", Stamp),
)

# Every manual correction of where an email is filed (relink), kept so a move can be traced.
email_moves = Table(
    "email_moves",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("from_contact_ids", JSON, nullable=False),
    Column("to_contact_ids", JSON, nullable=False),
    Column("from_thread_id", Integer, nullable=False),
    Column("to_thread_id", Integer, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

# Who monitors an inbox: one worker at a time. A lease expires unless renewed (heartbeat); the
# fencing token grows with every new holder so a worker that lost its lease can tell.
inbox_leases = Table(
    "inbox_leases",
    metadata,
    Column("inbox_id", ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("expires_at", Stamp, nullable=False, index=True),
)

# The OAuth grant of an inbox: refresh + access token encrypted together (SecretBox). One refresh at
# a time per inbox, across processes: a refresher first claims the row (guarded UPDATE on
# `generation` and an expired `refresh_claim_until`), and the new tokens replace the old ones, a
# rotated refresh token included, in the UPDATE that ends the claim.
oauth_grants = Table(
    "oauth_grants",
    metadata,
    Column("inbox_id", ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("secret", LargeBinary, nullable=False),
    Column("access_expires_at", Stamp, nullable=False),
    Column("access_lifetime", Integer, nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("refresh_claim_until", Stamp),
    Column("updated_at", Stamp, nullable=False),
)

# A started OAuth flow: one-time (`used_at`), expiring, bound to the user who started it. Only the
# state's SHA-256 is stored; the PKCE verifier is encrypted. `outcome` is what the settings page says.
oauth_states = Table(
    "oauth_states",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("state_hash", String(64), nullable=False, unique=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("inbox_id", ForeignKey("inboxes.id", ondelete="CASCADE")),
    Column("verifier", LargeBinary, nullable=False),
    Column("expires_at", Stamp, nullable=False, index=True),
    Column("used_at", Stamp),
    Column("outcome", JSON),
    Column("created_at", Stamp, nullable=False),
)

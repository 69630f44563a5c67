"""Tables of the platform's shared mechanisms: durable jobs, events as rows, and the webhooks that
deliver those events (docs/architecture.md, "Jobs, events and webhooks")."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from inboxlink.storage.tables import Stamp, metadata

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(64), nullable=False),
    # At most one pending job per key (e.g. "webhook:7": one deliverer per endpoint, in event order);
    # None for jobs that may run side by side.
    Column("key", String(120)),
    Column("run_at", Stamp, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # pending → running → done | failed; a running job whose claim expired is pending again.
    Column("status", String(16), nullable=False),
    Column("last_error", Text),
    Column("claimed_by", String(64)),
    Column("claim_expires_at", Stamp),
    Column("created_at", Stamp, nullable=False),
    Index("ix_jobs_due", "status", "run_at"),
    Index("ix_jobs_key", "key", "status"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(40), nullable=False),
    # The email an email.* event carries (no foreign key: the event outlives nothing it reports,
    # and erasing an email must delete its events, not null the pointer; services.crm.erase).
    Column("email_id", Integer, index=True),
    # The JSON body `data` sealed with the installation key: it carries mail content.
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Stamp, nullable=False),
    # The feed's order, handed out only once the event is committed (events.sequence): on PostgreSQL
    # a lower id can commit after a higher one was read, so the id cannot be the feed's cursor.
    # NULL until then; webhook deliveries and the feed skip unpositioned events.
    Column("position", BigInteger),
    Index("ix_events_team_id_id", "team_id", "id"),
    Index("ix_events_team_id_position", "team_id", "position"),
    Index("uq_events_position", "position", unique=True),
    Index(
        "ix_events_unpositioned",
        "id",
        postgresql_where=text("position IS NULL"),
        sqlite_where=text("position IS NULL"),
    ),
    # Never reuse an id (SQLite's plain rowid is max + 1): `evt_N` is the webhook-id receivers
    # deduplicate on, so a deleted event's id must not come back on a new one.
    sqlite_autoincrement=True,
)

# The last feed position handed out (one row, id 1). Positions come from here rather than from
# max(events.position) + 1, which goes back when the newest events are deleted (services.crm.erase)
# and would give a poller positions it has already passed.
event_positions = Table(
    "event_positions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last", BigInteger, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret", LargeBinary, nullable=False),  # sealed "whsec_..."
    # After a rotation the previous secret signs too, until previous_until.
    Column("previous_secret", LargeBinary),
    Column("previous_until", Stamp),
    Column("created_at", Stamp, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("webhook_id", ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    # pending → delivered | failed
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Stamp, nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("last_attempt_at", Stamp),
    Column("delivered_at", Stamp),
    Column("created_at", Stamp, nullable=False),
    # The event's feed position, copied when the event gets it (events.sequence): the deliverer's
    # order, read from this table's own index however long the endpoint's history is.
    Column("position", BigInteger),
    UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
    Index("ix_webhook_deliveries_webhook_id_status_position", "webhook_id", "status", "position"),
    Index("ix_webhook_deliveries_event_id", "event_id"),
    Index("ix_webhook_deliveries_webhook_id_status", "webhook_id", "status", "id"),
)

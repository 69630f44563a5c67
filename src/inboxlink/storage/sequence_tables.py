"""Tables of follow-up sequences (issue 16): a sequence and its steps, who is enrolled (one active
enrolment per contact and sequence, enforced by the database), which email each step became, and
the enrolment's history (sent, auto-reply seen, stopped and why)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from inboxlink.storage.tables import Stamp, metadata

sequences = Table(
    "sequences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("stop_on_company_reply", Boolean, nullable=False, default=False),
    Column("stop_on_auto_reply", Boolean, nullable=False, default=False),
    Column("time_zone", String(64), nullable=False),
    Column("window_start", String(5), nullable=False),  # "09:00", the sender's local time
    Column("window_end", String(5), nullable=False),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

# `position` counts from 0; step 0's delay counts from enrolment. A step is a template, or (no
# template) its own subject and text.
sequence_steps = Table(
    "sequence_steps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sequence_id", ForeignKey("sequences.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("template_id", Integer),
    Column("subject", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("delay_days", Integer, nullable=False),
    Column("same_thread", Boolean, nullable=False, default=False),
    UniqueConstraint("sequence_id", "position", name="uq_sequence_steps_sequence_position"),
)

# status: active | finished | stopped. `active_slot` is 1 while active and NULL after: the unique
# constraint on (sequence, contact, active_slot) allows one active enrolment (NULLs are distinct on
# SQLite and PostgreSQL alike) and any number of ended ones.
sequence_enrolments = Table(
    "sequence_enrolments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("sequence_id", ForeignKey("sequences.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("inbox_id", ForeignKey("inboxes.id"), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("stop_reason", String(32)),
    Column("active_slot", Integer),
    Column("next_step", Integer, nullable=False),
    Column("next_run_at", Stamp),
    Column("created_at", Stamp, nullable=False),
    Column("ended_at", Stamp),
    UniqueConstraint("sequence_id", "contact_id", "active_slot", name="uq_sequence_enrolments_active"),
    Index("ix_sequence_enrolments_team_status", "team_id", "status"),
)

# The email each step became: unique per (enrolment, position), so a step can only ever be queued once.
sequence_sends = Table(
    "sequence_sends",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("enrolment_id", ForeignKey("sequence_enrolments.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("created_at", Stamp, nullable=False),
    UniqueConstraint("enrolment_id", "position", name="uq_sequence_sends_enrolment_position"),
)

# kind: enrolled | step_sent | step_skipped | auto_reply | stopped | finished | unenrolled
sequence_history = Table(
    "sequence_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "enrolment_id", ForeignKey("sequence_enrolments.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("kind", String(32), nullable=False),
    Column("email_id", Integer),
    Column("detail", JSON, nullable=False),
    Column("created_at", Stamp, nullable=False),
)

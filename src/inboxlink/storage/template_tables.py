"""Tables of issue 16: a team's email templates and snippets (both shared by the whole team)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from inboxlink.storage.tables import Stamp, metadata

# subject/text/html hold the template source (domain.templates); html null → a text-only template.
email_templates = Table(
    "email_templates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

# A reusable text block; `#shortcut` in the composer inserts it. One shortcut per team.
snippets = Table(
    "snippets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False),
    Column("shortcut", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL")),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
    UniqueConstraint("team_id", "shortcut", name="uq_snippets_team_shortcut"),
)

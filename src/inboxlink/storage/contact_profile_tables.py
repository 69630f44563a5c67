"""What a salesperson keeps about a contact beyond name and address (issue 14): first and last
name, job title, owner (a user of the team) and lifecycle stage. One row per contact once edited;
the phone stays in contact_extras, where the CSV import puts it."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table

from inboxlink.storage.tables import metadata

contact_profiles = Table(
    "contact_profiles",
    metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("first_name", String(100), nullable=False, server_default=""),
    Column("last_name", String(100), nullable=False, server_default=""),
    Column("job_title", String(200), nullable=False, server_default=""),
    Column("owner_id", ForeignKey("users.id", ondelete="SET NULL")),
    Column("lifecycle_stage", String(40), nullable=False, server_default=""),
)

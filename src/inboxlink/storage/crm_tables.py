"""Companies and deals, and which emails are logged on them (issue 13). Same `metadata` as
storage/tables.py; the migration is 0012. A contact's company is a row of `contact_companies`
rather than a column on `contacts`, so the contacts table itself is unchanged."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, Numeric, String, Table

from inboxlink.storage.tables import Stamp, metadata

companies = Table(
    "companies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    # The primary domain (shown, matched); every domain of the company is in company_domains.
    Column("domain", String(253)),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

# One domain belongs to at most one company of a team; a merge moves the merged company's domains.
company_domains = Table(
    "company_domains",
    metadata,
    Column("team_id", ForeignKey("teams.id"), primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("company_id", ForeignKey("companies.id", ondelete="CASCADE"), nullable=False, index=True),
)

contact_companies = Table(
    "contact_companies",
    metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("company_id", ForeignKey("companies.id", ondelete="CASCADE"), nullable=False, index=True),
)

# A team's own pipeline; a team without a row uses domain.deals.DEFAULT_PIPELINE.
pipelines = Table(
    "pipelines",
    metadata,
    Column("team_id", ForeignKey("teams.id"), primary_key=True),
    Column("stages", JSON, nullable=False),  # [{"key", "label", "kind"}]
    Column("updated_at", Stamp, nullable=False),
)

deals = Table(
    "deals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("stage", String(40), nullable=False),
    Column("amount", Numeric(17, 2)),
    Column("currency", String(3)),
    Column("close_date", Date),
    Column("owner_id", ForeignKey("users.id", ondelete="SET NULL"), index=True),
    Column("company_id", ForeignKey("companies.id", ondelete="SET NULL"), index=True),
    Column("created_at", Stamp, nullable=False),
    Column("updated_at", Stamp, nullable=False),
)

deal_contacts = Table(
    "deal_contacts",
    metadata,
    Column("deal_id", ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_deal_contacts_contact", "contact_id"),
)

email_companies = Table(
    "email_companies",
    metadata,
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True),
    Column("company_id", ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_email_companies_company", "company_id"),
)

email_deals = Table(
    "email_deals",
    metadata,
    Column("email_id", ForeignKey("emails.id", ondelete="CASCADE"), primary_key=True),
    Column("deal_id", ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_email_deals_deal", "deal_id"),
)

# What a CSV import brings beyond the contacts table's columns (HubSpot's phone column).
contact_extras = Table(
    "contact_extras",
    metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("phone", String(40), nullable=False, server_default=""),
)

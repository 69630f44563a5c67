"""Companies and deals: companies, company_domains, contact_companies, pipelines, deals,
deal_contacts, email_companies, email_deals; contacts' free-text company becomes real companies

Revision ID: 0012
Revises: 0008
(also contact_extras: the phone a CSV import brings)
Create Date: 2026-12-02 12:50:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from inboxlink.domain.companies import (
    address_domain,
    company_domain_for,
    name_from_domain,
    new_company_domain,
)

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Stamp = sa.DateTime(timezone=True)


def _fk(col: str, table: str, src: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([col], [f"{table}.id"], name=f"fk_{src}_{col}_{table}", ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("domain", sa.String(253), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        _fk("team_id", "teams", "companies"),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
    )
    op.create_index("ix_companies_team_id", "companies", ["team_id"])
    op.create_table(
        "company_domains",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        _fk("team_id", "teams", "company_domains"),
        _fk("company_id", "companies", "company_domains", "CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "domain", name="pk_company_domains"),
    )
    op.create_index("ix_company_domains_company_id", "company_domains", ["company_id"])
    op.create_table(
        "contact_companies",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        _fk("contact_id", "contacts", "contact_companies", "CASCADE"),
        _fk("company_id", "companies", "contact_companies", "CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", name="pk_contact_companies"),
    )
    op.create_index("ix_contact_companies_company_id", "contact_companies", ["company_id"])
    op.create_table(
        "pipelines",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        _fk("team_id", "teams", "pipelines"),
        sa.PrimaryKeyConstraint("team_id", name="pk_pipelines"),
    )
    op.create_table(
        "deals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("amount", sa.Numeric(17, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Stamp, nullable=False),
        sa.Column("updated_at", Stamp, nullable=False),
        _fk("team_id", "teams", "deals"),
        _fk("owner_id", "users", "deals", "SET NULL"),
        _fk("company_id", "companies", "deals", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_deals"),
    )
    for col in ("team_id", "owner_id", "company_id"):
        op.create_index(f"ix_deals_{col}", "deals", [col])
    for name, other, ix in (
        ("deal_contacts", ("deal_id", "deals", "contact_id", "contacts"), "ix_deal_contacts_contact"),
        ("email_companies", ("email_id", "emails", "company_id", "companies"), "ix_email_companies_company"),
        ("email_deals", ("email_id", "emails", "deal_id", "deals"), "ix_email_deals_deal"),
    ):
        a, a_table, b, b_table = other
        op.create_table(
            name,
            sa.Column(a, sa.Integer(), nullable=False),
            sa.Column(b, sa.Integer(), nullable=False),
            _fk(a, a_table, name, "CASCADE"),
            _fk(b, b_table, name, "CASCADE"),
            sa.PrimaryKeyConstraint(a, b, name=f"pk_{name}"),
        )
        op.create_index(ix, name, [b])
    op.create_table(
        "contact_extras",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(40), server_default="", nullable=False),
        _fk("contact_id", "contacts", "contact_extras", "CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", name="pk_contact_extras"),
    )
    _companies_from_contacts()


def _companies_from_contacts() -> None:
    """Every contact at a business domain joins (or creates) that domain's company, named by the
    free-text company when the contact had one; a contact at free mail with a free-text company
    joins the company of that name (one per distinct name per team). The text column stays."""
    bind = op.get_bind()
    meta = sa.MetaData()
    contacts = sa.Table("contacts", meta, autoload_with=bind)
    companies = sa.Table("companies", meta, autoload_with=bind)
    domains = sa.Table("company_domains", meta, autoload_with=bind)
    links = sa.Table("contact_companies", meta, autoload_with=bind)
    stamp = datetime.now(UTC)
    by_domain: dict[tuple[int, str], int] = {}
    by_name: dict[tuple[int, str], int] = {}
    known: dict[int, set[str]] = {}
    rows = bind.execute(
        sa.select(contacts.c.id, contacts.c.team_id, contacts.c.email, contacts.c.company).order_by(
            contacts.c.id
        )
    ).all()

    def create(team_id: int, name: str, domain: str | None) -> int:
        company_id = bind.execute(
            companies.insert().values(
                team_id=team_id, name=name[:200], domain=domain, created_at=stamp, updated_at=stamp
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        if domain is not None:
            bind.execute(domains.insert().values(team_id=team_id, domain=domain, company_id=company_id))
        return int(company_id)

    pending: list[dict[str, int]] = []
    for row in rows:
        text = (row.company or "").strip()
        domain = address_domain(row.email)
        company_id = None
        if domain is not None and new_company_domain(domain) is not None:
            found = company_domain_for(domain, known.setdefault(row.team_id, set()))
            if found is not None:
                company_id = by_domain[(row.team_id, found)]
            else:
                root = new_company_domain(domain) or domain
                company_id = create(row.team_id, text or name_from_domain(root), root)
                by_domain[(row.team_id, root)] = company_id
                known[row.team_id].add(root)
        elif text:
            key = (row.team_id, text.lower())
            if key not in by_name:
                by_name[key] = create(row.team_id, text, None)
            company_id = by_name[key]
        if company_id is not None:
            pending.append({"contact_id": row.id, "company_id": company_id})
    if pending:
        bind.execute(links.insert(), pending)


def downgrade() -> None:
    op.drop_table("contact_extras")
    for name in ("email_deals", "email_companies", "deal_contacts", "deals", "pipelines"):
        op.drop_table(name)
    op.drop_table("contact_companies")
    op.drop_table("company_domains")
    op.drop_table("companies")

"""Migration 0012 on SQLite and PostgreSQL: the free-text `company` of existing contacts becomes
real companies — by the address's business domain (named by the text), else by the text."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import create_engine, insert, select

from inboxlink.storage.crm_tables import companies, contact_companies
from inboxlink.storage.db import alembic_config, sync_url
from inboxlink.storage.tables import contacts, teams
from tests.integration.test_tracked_scope_migration import database_url  # noqa: F401  (both backends)

STAMP = datetime(2026, 1, 1, tzinfo=UTC)


def test_free_text_companies_become_companies(database_url):  # noqa: F811
    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0008")
    engine = create_engine(sync_url(database_url))
    people = [
        ("bob@acme.test", "Acme Inc"),
        ("ann@eu.acme.test", ""),  # a subdomain: Acme too
        ("cy@gmail.com", "Zeta Ltd"),
        ("dee@outlook.com", "zeta ltd"),  # the same name: the same company
        ("eve@gmail.com", ""),  # free mail, no text: none
        ("fay@newco.test", ""),  # a business domain: its own company, named from it
        ("gus@acme.test", "Other text"),  # Acme exists by then: joins it
    ]
    with engine.begin() as conn:
        conn.execute(insert(teams), [{"id": 1, "name": "t", "created_at": STAMP}])
        conn.execute(
            insert(contacts),
            [{"team_id": 1, "email": e, "name": "", "company": c, "created_at": STAMP} for e, c in people],
        )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.execute(
            select(contacts.c.email, companies.c.name, companies.c.domain)
            .select_from(contacts)
            .outerjoin(contact_companies, contact_companies.c.contact_id == contacts.c.id)
            .outerjoin(companies, companies.c.id == contact_companies.c.company_id)
        ).all()
        count = len(conn.execute(select(companies.c.id)).all())
    got = {r.email: (r.name, r.domain) for r in rows}
    assert got == {
        "bob@acme.test": ("Acme Inc", "acme.test"),
        "ann@eu.acme.test": ("Acme Inc", "acme.test"),
        "cy@gmail.com": ("Zeta Ltd", None),
        "dee@outlook.com": ("Zeta Ltd", None),
        "eve@gmail.com": (None, None),
        "fay@newco.test": ("Newco", "newco.test"),
        "gus@acme.test": ("Acme Inc", "acme.test"),
    }
    assert count == 3
    engine.dispose()

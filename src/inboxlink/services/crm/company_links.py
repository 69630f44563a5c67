"""Which company a contact belongs to, inside the caller's transaction: by the address's domain
(domain.companies: free mail never, subdomains to the most specific known company, a new business
domain creates its company), or by a company name given by hand."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.companies import (
    address_domain,
    candidate_domains,
    company_domain_for,
    name_from_domain,
    new_company_domain,
)
from inboxlink.services.platform.runtime import now
from inboxlink.storage.crm_tables import companies, company_domains, contact_companies
from inboxlink.storage.db import new_id


def _insert(conn: AsyncConnection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


async def known_domains(conn: AsyncConnection, team_id: int, domains: Iterable[str]) -> dict[str, int]:
    """company id by domain, for those of `domains` (and their parents) some company has."""
    wanted = sorted({c for d in domains for c in candidate_domains(d)})
    if not wanted:
        return {}
    rows = await conn.execute(
        select(company_domains.c.domain, company_domains.c.company_id).where(
            company_domains.c.team_id == team_id, company_domains.c.domain.in_(wanted)
        )
    )
    return {r.domain: r.company_id for r in rows}


async def create_company_row(
    conn: AsyncConnection, team_id: int, name: str, domain: str | None
) -> int | None:
    """A new company; None when `domain` is taken (by a concurrent writer too: the domain's row is
    claimed with ON CONFLICT DO NOTHING, and the company made for nothing is removed again)."""
    stamp = now()
    result = await conn.execute(
        companies.insert().values(
            team_id=team_id, name=name[:200], domain=domain, created_at=stamp, updated_at=stamp
        )
    )
    company_id = new_id(result)
    if domain is None:
        return company_id
    claimed = await conn.execute(
        _insert(conn)(company_domains)
        .values(team_id=team_id, domain=domain, company_id=company_id)
        .on_conflict_do_nothing(index_elements=["team_id", "domain"])
        .returning(company_domains.c.company_id)
    )
    # RETURNING, not rowcount: psycopg reports a row for a conflicting INSERT … DO NOTHING here.
    if claimed.first() is None:
        await conn.execute(companies.delete().where(companies.c.id == company_id))
        return None
    return company_id


async def company_for_domain(conn: AsyncConnection, team_id: int, domain: str, *, create: bool) -> int | None:
    """The company an address at `domain` belongs to; with `create`, the one made for its root
    domain when none exists. None for free mail."""
    if new_company_domain(domain) is None:
        return None
    known = await known_domains(conn, team_id, [domain])
    found = company_domain_for(domain, known)
    if found is not None:
        return known[found]
    if not create:
        return None
    root = new_company_domain(domain) or domain
    made = await create_company_row(conn, team_id, name_from_domain(root), root)
    if made is None:  # someone created it a moment ago
        return (await known_domains(conn, team_id, [root])).get(root)
    return made


async def company_for_name(conn: AsyncConnection, team_id: int, name: str) -> int:
    """The team's company of that name (case-insensitive; the oldest when several), else a new one."""
    found = await conn.scalar(
        select(companies.c.id)
        .where(companies.c.team_id == team_id, func.lower(companies.c.name) == name.strip().lower())
        .order_by(companies.c.id)
        .limit(1)
    )
    if found is not None:
        return int(found)
    made = await create_company_row(conn, team_id, name.strip(), None)
    assert made is not None  # no domain, nothing to collide with
    return made


async def link_contact(conn: AsyncConnection, contact_id: int, company_id: int | None) -> None:
    """Put the contact in `company_id` (None: in no company), replacing what it was in."""
    await conn.execute(contact_companies.delete().where(contact_companies.c.contact_id == contact_id))
    if company_id is not None:
        await conn.execute(contact_companies.insert().values(contact_id=contact_id, company_id=company_id))


async def assign_by_domain(conn: AsyncConnection, team_id: int, addresses: Mapping[int, str]) -> None:
    """New contacts (id → address) join their domain's company, creating it for a business domain.
    One query for the known domains, then one insert per company that did not exist."""
    domain_of = {cid: d for cid, a in addresses.items() if (d := address_domain(a)) and new_company_domain(d)}
    if not domain_of:
        return
    known = await known_domains(conn, team_id, domain_of.values())
    links = []
    for contact_id, domain in domain_of.items():
        found = company_domain_for(domain, known)
        if found is None:
            company_id = await company_for_domain(conn, team_id, domain, create=True)
            if company_id is None:
                continue
            known[new_company_domain(domain) or domain] = company_id
        else:
            company_id = known[found]
        links.append({"contact_id": contact_id, "company_id": company_id})
    if links:
        await conn.execute(_insert(conn)(contact_companies).values(links).on_conflict_do_nothing())


async def companies_of_contacts(conn: AsyncConnection, contact_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(contact_ids))
    if not ids:
        return set()
    rows = await conn.execute(
        select(contact_companies.c.company_id).where(contact_companies.c.contact_id.in_(ids))
    )
    return {r.company_id for r in rows}

"""Companies: created by hand or for a contact's business domain, read, edited, merged. Every
query is scoped to the caller's team (another team's company is not there: 404)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.companies import company_domain_for, normalise_domain
from inboxlink.domain.search_terms import fold_name
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.company_links import create_company_row, known_domains, link_contact
from inboxlink.services.crm.contacts import CONTACT_ROWS, contact_view, team_company_id
from inboxlink.services.errors import Conflict, NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import db_int, has_surrogates, like_escape, valid_unicode
from inboxlink.storage.crm_tables import companies, company_domains, contact_companies, deals, email_companies
from inboxlink.storage.db import folded
from inboxlink.storage.tables import contacts


def company_view(row: Any, domains: list[str] | None = None) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "domain": row.domain,
        "domains": domains if domains is not None else ([row.domain] if row.domain else []),
        "created_at": iso(row.created_at),
    }


def _name(value: object, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > 200 or any(c in value for c in "\r\n\x00"):
        raise ServiceError("invalid_field", "name must be one line of at most 200 characters.", field="name")
    name = valid_unicode(value, field="name").strip()
    if required and not name:
        raise ServiceError("field_required", "name is required.", field="name")
    return name


def parse_domain(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ServiceError("invalid_field", "domain must be text such as acme.com.", field="domain")
    try:
        return normalise_domain(valid_unicode(value, field="domain"))
    except ValueError as exc:
        raise ServiceError(
            "invalid_domain", f"{value[:80]!r} is not a domain such as acme.com.", field="domain"
        ) from exc


async def _domains(conn: AsyncConnection, company_ids: list[int]) -> dict[int, list[str]]:
    rows = await conn.execute(
        select(company_domains.c.company_id, company_domains.c.domain)
        .where(company_domains.c.company_id.in_(company_ids))
        .order_by(company_domains.c.domain)
    )
    out: dict[int, list[str]] = {}
    for r in rows:
        out.setdefault(r.company_id, []).append(r.domain)
    return out


async def _views(conn: AsyncConnection, rows: list[Any]) -> list[dict[str, object]]:
    domains = await _domains(conn, [r.id for r in rows])
    return [company_view(r, domains.get(r.id, [])) for r in rows]


async def create_company(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    domain = parse_domain(body.get("domain"))
    name = _name(body.get("name"), required=domain is None)
    async with rt.engine.begin() as conn:
        company_id = await create_company_row(
            conn, caller.team_id, name or (domain or "").split(".")[0].capitalize(), domain
        )
        if company_id is None:
            raise Conflict("company_exists", f"A company with the domain {domain} already exists.")
        row = (await conn.execute(select(companies).where(companies.c.id == company_id))).one()
        return (await _views(conn, [row]))[0]


async def company_row(conn: AsyncConnection, caller: Caller, company_id: int) -> Any:
    db_int(company_id, field="company_id")
    row = (
        await conn.execute(
            select(companies).where(companies.c.id == company_id, companies.c.team_id == caller.team_id)
        )
    ).first()
    if row is None:
        raise NotFound("company")
    return row


async def get_company(rt: Runtime, caller: Caller, company_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        return (await _views(conn, [await company_row(conn, caller, company_id)]))[0]


async def list_companies(
    rt: Runtime,
    caller: Caller,
    *,
    domain: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, object]], int]:
    """`domain`: the company an address at that domain belongs to (eu.acme.com finds acme.com)."""
    where = [companies.c.team_id == caller.team_id]
    if has_surrogates(domain or "") or has_surrogates(query or ""):
        return [], 0
    async with rt.engine.connect() as conn:
        if domain is not None:
            try:
                wanted = normalise_domain(domain)
            except ValueError:
                return [], 0
            known = await known_domains(conn, caller.team_id, [wanted])
            found = company_domain_for(wanted, known)
            if found is None:
                return [], 0
            where.append(companies.c.id == known[found])
        if query:
            like = f"%{like_escape(query.strip().lower())}%"
            where.append(
                or_(
                    folded(companies.c.name, rt.engine.dialect.name).like(
                        f"%{like_escape(fold_name(query.strip()))}%", escape="\\"
                    ),
                    companies.c.id.in_(
                        select(company_domains.c.company_id).where(
                            company_domains.c.team_id == caller.team_id,
                            company_domains.c.domain.like(like, escape="\\"),
                        )
                    ),
                )
            )
        total = int(await conn.scalar(select(func.count()).select_from(companies).where(*where)) or 0)
        rows = (
            await conn.execute(
                select(companies)
                .where(*where)
                .order_by(func.lower(companies.c.name), companies.c.id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
        return await _views(conn, list(rows)), total


async def update_company(
    rt: Runtime, caller: Caller, company_id: int, body: dict[str, Any]
) -> dict[str, object]:
    """`name` and/or `domain` (a new primary domain; the old one stays the company's too)."""
    async with rt.engine.begin() as conn:
        row = await company_row(conn, caller, company_id)
        values: dict[str, object] = {"updated_at": now()}
        if body.get("name") is not None:
            values["name"] = _name(body["name"], required=True)
        if "domain" in body and body["domain"] is not None:
            domain = parse_domain(body["domain"])
            if domain is not None:
                owner = await conn.scalar(
                    select(company_domains.c.company_id).where(
                        company_domains.c.team_id == caller.team_id, company_domains.c.domain == domain
                    )
                )
                if owner is not None and owner != row.id:
                    raise Conflict("company_exists", f"A company with the domain {domain} already exists.")
                if owner is None:
                    await conn.execute(
                        company_domains.insert().values(
                            team_id=caller.team_id, domain=domain, company_id=row.id
                        )
                    )
            values["domain"] = domain
        await conn.execute(update(companies).where(companies.c.id == row.id).values(**values))
        fresh = (await conn.execute(select(companies).where(companies.c.id == row.id))).one()
        return (await _views(conn, [fresh]))[0]


async def company_contacts(rt: Runtime, caller: Caller, company_id: int) -> list[dict[str, object]]:
    async with rt.engine.connect() as conn:
        await company_row(conn, caller, company_id)
        rows = (
            await conn.execute(
                CONTACT_ROWS.where(contact_companies.c.company_id == company_id).order_by(
                    func.lower(contacts.c.name), contacts.c.email
                )
            )
        ).all()
    return [contact_view(r) for r in rows]


async def set_contact_company(rt: Runtime, caller: Caller, contact_id: int, company_id: int | None) -> None:
    """Move a contact to another company (None: to none)."""
    async with rt.engine.begin() as conn:
        found = await conn.scalar(
            select(contacts.c.id).where(contacts.c.id == contact_id, contacts.c.team_id == caller.team_id)
        )
        if found is None:
            raise NotFound("contact")
        if company_id is not None:
            await team_company_id(conn, caller.team_id, company_id)
        await link_contact(conn, contact_id, company_id)


async def merge_companies(rt: Runtime, caller: Caller, into_id: int, from_id: int) -> dict[str, object]:
    """`from_id` goes into `into_id`: its contacts, domains, deals and every email logged on it move
    over, then it is deleted. One transaction: nothing is half-merged."""
    if into_id == from_id:
        raise ServiceError("invalid_field", "A company cannot be merged into itself.", field="from_id")
    async with rt.engine.begin() as conn:
        into = await company_row(conn, caller, into_id)
        source = await company_row(conn, caller, from_id)
        await conn.execute(
            update(contact_companies)
            .where(contact_companies.c.company_id == source.id)
            .values(company_id=into.id)
        )
        await conn.execute(
            update(company_domains)
            .where(company_domains.c.company_id == source.id)
            .values(company_id=into.id)
        )
        await conn.execute(update(deals).where(deals.c.company_id == source.id).values(company_id=into.id))
        # One INSERT … SELECT whatever the number of emails: those not on `into` already.
        already = select(email_companies.c.email_id).where(email_companies.c.company_id == into.id)
        moved = select(email_companies.c.email_id, literal(into.id)).where(
            email_companies.c.company_id == source.id, email_companies.c.email_id.not_in(already)
        )
        await conn.execute(email_companies.insert().from_select(["email_id", "company_id"], moved))
        await conn.execute(email_companies.delete().where(email_companies.c.company_id == source.id))
        if into.domain is None and source.domain is not None:
            await conn.execute(
                update(companies).where(companies.c.id == into.id).values(domain=source.domain)
            )
        await conn.execute(companies.delete().where(companies.c.id == source.id))
        fresh = (await conn.execute(select(companies).where(companies.c.id == into.id))).one()
        return (await _views(conn, [fresh]))[0]

"""Contacts: one per address per team; created by hand or on the fly for new correspondents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.companies import address_domain
from inboxlink.domain.models import Address
from inboxlink.domain.search_terms import fold_name
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import contact_activity
from inboxlink.services.crm.company_links import (
    assign_by_domain,
    company_for_domain,
    company_for_name,
    link_contact,
)
from inboxlink.services.crm.never_log import refuse_never_logged
from inboxlink.services.errors import Conflict, NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import (
    db_int,
    has_surrogates,
    like_escape,
    normalise_address,
    valid_unicode,
)
from inboxlink.storage.crm_tables import companies, contact_companies
from inboxlink.storage.db import folded, new_id
from inboxlink.storage.tables import contacts

# A contact row as the views read it: with its company's id and name (outer join: maybe none).
CONTACT_ROWS = (
    select(contacts, contact_companies.c.company_id, companies.c.name.label("company_name"))
    .select_from(contacts)
    .outerjoin(contact_companies, contact_companies.c.contact_id == contacts.c.id)
    .outerjoin(companies, companies.c.id == contact_companies.c.company_id)
)


def contact_view(row: Any) -> dict[str, object]:
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        # The company's name when the contact is in one; the free text typed before companies existed.
        "company": getattr(row, "company_name", None) or row.company,
        "company_id": getattr(row, "company_id", None),
        "created_at": iso(row.created_at),
    }


def _text(body: dict[str, Any], key: str, limit: int = 200) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str) or len(value) > limit or any(c in value for c in "\r\n\x00"):
        raise ServiceError(
            "invalid_field", f"{key} must be one line of at most {limit} characters.", field=key
        )
    return valid_unicode(value, field=key).strip()


async def create_contact(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    email = normalise_address(body.get("email"), field="email")
    name, company = _text(body, "name"), _text(body, "company")
    company_id = db_int(body.get("company_id"), field="company_id")
    async with rt.engine.begin() as conn:
        await refuse_never_logged(conn, caller, email)
        if company_id is not None:
            await team_company_id(conn, caller.team_id, company_id)
        try:
            result = await conn.execute(
                contacts.insert().values(
                    team_id=caller.team_id, email=email, name=name, company=company, created_at=now()
                )
            )
        except IntegrityError as exc:
            raise Conflict("contact_exists", f"A contact with the address {email} already exists.") from exc
        contact_id = new_id(result)
        await place_contact(conn, caller.team_id, contact_id, email, company, company_id)
        row = (await conn.execute(CONTACT_ROWS.where(contacts.c.id == contact_id))).one()
    return contact_view(row)


async def team_company_id(conn: AsyncConnection, team_id: int, company_id: int) -> int:
    found = await conn.scalar(
        select(companies.c.id).where(companies.c.id == company_id, companies.c.team_id == team_id)
    )
    if found is None:
        raise NotFound("company")
    return int(found)


async def place_contact(
    conn: AsyncConnection, team_id: int, contact_id: int, email: str, company: str, company_id: int | None
) -> None:
    """A contact's company: the one chosen; else its business domain's (created when new); else,
    at free mail, the company of the name typed (created when new)."""
    if company_id is not None:
        await link_contact(conn, contact_id, company_id)
        return
    domain = address_domain(email)
    by_domain = await company_for_domain(conn, team_id, domain, create=True) if domain else None
    if by_domain is None and company:
        by_domain = await company_for_name(conn, team_id, company)
    await link_contact(conn, contact_id, by_domain)


async def list_contacts(
    rt: Runtime,
    caller: Caller,
    *,
    email: str | None = None,
    query: str | None = None,
    limit: int = 50,
    offset: int = 0,
    sort: str = "name",
) -> tuple[list[dict[str, object]], int]:
    """A page of the team's contacts; `sort` "activity" / "replied" (contact_activity) puts the most
    recently active first, and the items then say when (`last_activity_at`, `last_reply_at`)."""
    order = contact_activity.order_for(sort)
    where = [contacts.c.team_id == caller.team_id]
    if has_surrogates(email or "") or has_surrogates(query or ""):
        return [], 0  # nothing stored can contain them (and the database could not compare them)
    if email is not None:
        where.append(contacts.c.email == email.strip().lower())
    if query:
        # Names match without accents or case ("zazolc" finds Zażółć); addresses are stored folded.
        dialect = rt.engine.dialect.name
        like = f"%{like_escape(fold_name(query.strip()))}%"
        where.append(
            or_(
                folded(contacts.c.name, dialect).like(like, escape="\\"),
                contacts.c.email.like(f"%{like_escape(query.strip().lower())}%", escape="\\"),
                folded(contacts.c.company, dialect).like(like, escape="\\"),
                folded(companies.c.name, dialect).like(like, escape="\\"),
            )
        )
    async with rt.engine.connect() as conn:
        counted = CONTACT_ROWS.with_only_columns(func.count()).where(*where)
        total = int(await conn.scalar(counted) or 0)
        rows = (
            await conn.execute(
                CONTACT_ROWS.add_columns(contact_activity.last_activity(), contact_activity.last_reply())
                .where(*where)
                .order_by(*order)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return [
        {
            **contact_view(r),
            "last_activity_at": iso(r.last_activity_at),
            "last_reply_at": iso(r.last_reply_at),
        }
        for r in rows
    ], total


async def get_contact_row(rt: Runtime, caller: Caller, contact_id: int) -> Any:
    db_int(contact_id, field="contact_id")  # an id the database cannot hold is a 422, not a crash
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                CONTACT_ROWS.where(contacts.c.id == contact_id, contacts.c.team_id == caller.team_id)
            )
        ).first()
    if row is None:
        raise NotFound("contact")
    return row


async def get_contact(rt: Runtime, caller: Caller, contact_id: int) -> dict[str, object]:
    return contact_view(await get_contact_row(rt, caller, contact_id))


def contact_addresses(people: Iterable[Address]) -> dict[str, str]:
    """name by lower-cased address, in order of first appearance: the addresses that can be contacts."""
    by_email: dict[str, str] = {}
    for person in people:
        address = person.email.strip().lower()
        # No contact for something that cannot be an address (RFC 5321 caps a path at 254).
        if address and len(address) <= 254 and "@" in address and address not in by_email:
            by_email[address] = person.name
    return by_email


async def ensure_contacts(conn: AsyncConnection, team_id: int, people: Iterable[Address]) -> dict[str, int]:
    """Contact ids by address, creating the missing ones. ON CONFLICT DO NOTHING: two workers logging
    mail for the same new correspondent at once must both succeed."""
    by_email = contact_addresses(people)
    if not by_email:
        return {}
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stamp = now()
    before = set(
        (
            await conn.execute(
                select(contacts.c.email).where(
                    contacts.c.team_id == team_id, contacts.c.email.in_(list(by_email))
                )
            )
        ).scalars()
    )
    await conn.execute(
        insert(contacts)
        .values(
            [
                {"team_id": team_id, "email": e, "name": (n or "")[:200], "company": "", "created_at": stamp}
                for e, n in by_email.items()
            ]
        )
        .on_conflict_do_nothing(index_elements=["team_id", "email"])
    )
    rows = await conn.execute(
        select(contacts.c.email, contacts.c.id).where(
            contacts.c.team_id == team_id, contacts.c.email.in_(list(by_email))
        )
    )
    ids = {r.email: r.id for r in rows}
    # Contacts made just now join their domain's company (a new business domain creates it).
    await assign_by_domain(conn, team_id, {i: e for e, i in ids.items() if e not in before})
    return ids


async def update_contact(
    rt: Runtime, caller: Caller, contact_id: int, body: dict[str, Any]
) -> dict[str, object]:
    """`name` and/or `company_id` (null: in no company)."""
    await get_contact_row(rt, caller, contact_id)
    async with rt.engine.begin() as conn:
        if body.get("name") is not None:
            await conn.execute(
                contacts.update().where(contacts.c.id == contact_id).values(name=_text(body, "name"))
            )
        if "company_id" in body:
            company_id = db_int(body["company_id"], field="company_id")
            if company_id is not None:
                await team_company_id(conn, caller.team_id, company_id)
            await link_contact(conn, contact_id, company_id)
    return await get_contact(rt, caller, contact_id)

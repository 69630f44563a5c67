"""Which companies and deals an email is logged on, written in the transaction that stores it.

The rules (docs/api.md, "Companies and deals"):
- the company/deal it was sent from (`POST /api/v1/emails` `company_id` / `deal_id`), and a deal's company;
- every company of its contacts;
- an email that joins a conversation (thread) is logged on every company and deal the
  conversation's earlier emails are on: a reply to a deal email lands on the deal, a reply to a
  plain contact email only on the contact and its company;
- BCC-logged mail that starts a conversation goes on a deal only when its contacts have exactly one
  open deal among them (domain.deals.deal_for_logged_mail)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.deals import DEFAULT_PIPELINE, Stage, deal_for_logged_mail, open_keys
from inboxlink.services.crm.company_links import companies_of_contacts
from inboxlink.storage.crm_tables import deal_contacts, deals, email_companies, email_deals, pipelines
from inboxlink.storage.tables import emails


async def team_pipeline(conn: AsyncConnection, team_id: int) -> tuple[Stage, ...]:
    stored = await conn.scalar(select(pipelines.c.stages).where(pipelines.c.team_id == team_id))
    if not stored:
        return DEFAULT_PIPELINE
    return tuple(Stage(s["key"], s["label"], s["kind"]) for s in stored)


async def add_links(
    conn: AsyncConnection, email_id: int, company_ids: Iterable[int], deal_ids: Iterable[int]
) -> None:
    """Log the email on these records too (what it is on already stays)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    companies = sorted(set(company_ids))
    deal_list = sorted(set(deal_ids))
    if companies:
        await conn.execute(
            insert(email_companies)
            .values([{"email_id": email_id, "company_id": c} for c in companies])
            .on_conflict_do_nothing()
        )
    if deal_list:
        await conn.execute(
            insert(email_deals)
            .values([{"email_id": email_id, "deal_id": d} for d in deal_list])
            .on_conflict_do_nothing()
        )


async def _thread_records(conn: AsyncConnection, thread_id: int, email_id: int) -> tuple[set[int], set[int]]:
    earlier = select(emails.c.id).where(emails.c.thread_id == thread_id, emails.c.id != email_id)
    company_rows = await conn.execute(
        select(email_companies.c.company_id).where(email_companies.c.email_id.in_(earlier)).distinct()
    )
    deal_rows = await conn.execute(
        select(email_deals.c.deal_id).where(email_deals.c.email_id.in_(earlier)).distinct()
    )
    return {r.company_id for r in company_rows}, {r.deal_id for r in deal_rows}


async def _single_open_deal(conn: AsyncConnection, team_id: int, contact_ids: Sequence[int]) -> int | None:
    if not contact_ids:
        return None
    stages = open_keys(await team_pipeline(conn, team_id))
    rows = await conn.execute(
        select(deals.c.id)
        .join(deal_contacts, deal_contacts.c.deal_id == deals.c.id)
        .where(
            deals.c.team_id == team_id,
            deal_contacts.c.contact_id.in_(sorted(set(contact_ids))),
            deals.c.stage.in_(sorted(stages)),
        )
        .distinct()
    )
    return deal_for_logged_mail([r.id for r in rows])


async def log_on_records(
    conn: AsyncConnection,
    *,
    team_id: int,
    email_id: int,
    contact_ids: Sequence[int],
    joined_thread: int | None,
    company_ids: Sequence[int] = (),
    deal_ids: Sequence[int] = (),
    infer_deal: bool = False,
) -> None:
    """Apply the rules above for a newly stored email."""
    companies = set(company_ids) | await companies_of_contacts(conn, contact_ids)
    deal_set = set(deal_ids)
    if joined_thread is not None:
        inherited_companies, inherited_deals = await _thread_records(conn, joined_thread, email_id)
        companies |= inherited_companies
        deal_set |= inherited_deals
    elif infer_deal and not deal_set:
        single = await _single_open_deal(conn, team_id, contact_ids)
        if single is not None:
            deal_set.add(single)
    if deal_set:
        rows = await conn.execute(
            select(deals.c.company_id).where(
                deals.c.id.in_(sorted(deal_set)), deals.c.company_id.is_not(None)
            )
        )
        companies |= {r.company_id for r in rows}
    await add_links(conn, email_id, companies, deal_set)


async def email_record_ids(
    conn: AsyncConnection, email_ids: Sequence[int]
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """(company ids by email id, deal ids by email id), sorted: for the email objects."""
    companies_of: dict[int, list[int]] = {}
    deals_of: dict[int, list[int]] = {}
    for r in await conn.execute(select(email_companies).where(email_companies.c.email_id.in_(email_ids))):
        companies_of.setdefault(r.email_id, []).append(r.company_id)
    for r in await conn.execute(select(email_deals).where(email_deals.c.email_id.in_(email_ids))):
        deals_of.setdefault(r.email_id, []).append(r.deal_id)
    return (
        {k: sorted(v) for k, v in companies_of.items()},
        {k: sorted(v) for k, v in deals_of.items()},
    )

"""Deals: name, stage of the team's pipeline, amount and currency, close date, owner, company,
contacts; and the team's pipeline itself. Scoped to the caller's team like every record."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.deals import (
    Stage,
    check_pipeline,
    first_open_stage,
    parse_amount,
    parse_currency,
    stage_by_key,
)
from inboxlink.domain.search_terms import fold_name
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contacts import team_company_id
from inboxlink.services.crm.record_links import team_pipeline
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import db_int, like_escape, valid_unicode
from inboxlink.storage.crm_tables import deal_contacts, deals, pipelines
from inboxlink.storage.db import folded
from inboxlink.storage.tables import contacts, users


def stage_view(stage: Stage) -> dict[str, str]:
    return {"key": stage.key, "label": stage.label, "kind": stage.kind}


async def get_pipeline(rt: Runtime, caller: Caller) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        stages = await team_pipeline(conn, caller.team_id)
    return {"stages": [stage_view(s) for s in stages]}


async def set_pipeline(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    """Replace the team's pipeline (admins). A stage that deals are still in cannot be dropped."""
    if not caller.is_admin:
        raise ServiceError("admin_required", "Only a team admin can change the pipeline.")
    raw = body.get("stages")
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise ServiceError("invalid_field", "stages must be a list of {key, label, kind}.", field="stages")
    stages = [Stage(str(s.get("key", "")), str(s.get("label", "")), s.get("kind") or "open") for s in raw]
    if any(s.kind not in ("open", "won", "lost") for s in stages):
        raise ServiceError("invalid_pipeline", "kind is open, won or lost.", field="stages")
    problem = check_pipeline(stages)
    if problem is not None:
        raise ServiceError("invalid_pipeline", problem[0].upper() + problem[1:] + ".", field="stages")
    async with rt.engine.begin() as conn:
        used = set(
            (
                await conn.execute(select(deals.c.stage).where(deals.c.team_id == caller.team_id).distinct())
            ).scalars()
        )
        missing = sorted(used - {s.key for s in stages})
        if missing:
            raise ServiceError(
                "stage_in_use", f"Deals are still in {', '.join(missing)}: move them first.", field="stages"
            )
        stored = [stage_view(s) for s in stages]
        changed = await conn.execute(
            update(pipelines)
            .where(pipelines.c.team_id == caller.team_id)
            .values(stages=stored, updated_at=now())
        )
        if changed.rowcount == 0:
            await conn.execute(
                pipelines.insert().values(team_id=caller.team_id, stages=stored, updated_at=now())
            )
    return {"stages": stored}


def _amount(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


async def _views(conn: AsyncConnection, rows: list[Any]) -> list[dict[str, object]]:
    ids = [r.id for r in rows]
    links = await conn.execute(
        select(deal_contacts).where(deal_contacts.c.deal_id.in_(ids)).order_by(deal_contacts.c.contact_id)
    )
    contacts_of: dict[int, list[int]] = {}
    for link in links:
        contacts_of.setdefault(link.deal_id, []).append(link.contact_id)
    stages = {s.key: s for s in await team_pipeline(conn, rows[0].team_id)} if rows else {}
    return [
        {
            "id": r.id,
            "name": r.name,
            "stage": r.stage,
            "stage_label": stages[r.stage].label if r.stage in stages else r.stage,
            "is_open": r.stage in stages and stages[r.stage].kind == "open",
            "amount": _amount(r.amount),
            "currency": r.currency,
            "close_date": r.close_date.isoformat() if r.close_date else None,
            "owner_id": r.owner_id,
            "company_id": r.company_id,
            "contact_ids": contacts_of.get(r.id, []),
            "created_at": iso(r.created_at),
            "updated_at": iso(r.updated_at),
        }
        for r in rows
    ]


async def deal_row(conn: AsyncConnection, caller: Caller, deal_id: int) -> Any:
    db_int(deal_id, field="deal_id")
    row = (
        await conn.execute(select(deals).where(deals.c.id == deal_id, deals.c.team_id == caller.team_id))
    ).first()
    if row is None:
        raise NotFound("deal")
    return row


async def _fields(
    conn: AsyncConnection, caller: Caller, body: dict[str, Any], *, new: bool
) -> dict[str, Any]:
    """The columns `body` sets, checked; `contact_ids` comes back under that key (not a column)."""
    values: dict[str, Any] = {}
    if new or body.get("name") is not None:
        name = body.get("name")
        if (
            not isinstance(name, str)
            or not name.strip()
            or len(name) > 200
            or any(c in name for c in "\r\n\x00")
        ):
            raise ServiceError("invalid_field", "name is one line of 1 to 200 characters.", field="name")
        values["name"] = valid_unicode(name, field="name").strip()
    stages = await team_pipeline(conn, caller.team_id)
    if body.get("stage") is not None:
        if not isinstance(body["stage"], str) or stage_by_key(stages, body["stage"]) is None:
            keys = ", ".join(s.key for s in stages)
            raise ServiceError("invalid_stage", f"stage is one of the pipeline's: {keys}.", field="stage")
        values["stage"] = body["stage"]
    elif new:
        values["stage"] = first_open_stage(stages).key
    if "amount" in body:
        try:
            values["amount"] = None if body["amount"] is None else parse_amount(body["amount"])
        except ValueError as exc:
            raise ServiceError(
                "invalid_amount", str(exc)[0].upper() + str(exc)[1:] + ".", field="amount"
            ) from exc
    if "currency" in body:
        try:
            values["currency"] = (
                None if body["currency"] in (None, "") else parse_currency(str(body["currency"]))
            )
        except ValueError as exc:
            raise ServiceError(
                "invalid_currency", str(exc)[0].upper() + str(exc)[1:] + ".", field="currency"
            ) from exc
    if "close_date" in body:
        try:
            values["close_date"] = (
                None if body["close_date"] in (None, "") else date.fromisoformat(str(body["close_date"]))
            )
        except ValueError as exc:
            raise ServiceError(
                "invalid_field", "close_date is a date such as 2027-03-31.", field="close_date"
            ) from exc
    if "company_id" in body:
        company_id = db_int(body["company_id"], field="company_id")
        values["company_id"] = (
            None if company_id is None else await team_company_id(conn, caller.team_id, company_id)
        )
    if "owner_id" in body:
        owner = db_int(body["owner_id"], field="owner_id")
        if (
            owner is not None
            and (
                await conn.scalar(
                    select(users.c.id).where(users.c.id == owner, users.c.team_id == caller.team_id)
                )
            )
            is None
        ):
            raise NotFound("user")
        values["owner_id"] = owner
    elif new:
        values["owner_id"] = caller.user_id
    if body.get("contact_ids") is not None:
        raw = body["contact_ids"]
        if not isinstance(raw, list) or len(raw) > 500:
            raise ServiceError(
                "invalid_field", "contact_ids is a list of at most 500 ids.", field="contact_ids"
            )
        ids = sorted(
            {
                i
                for i in (db_int(x, field="contact_ids", what="a list of contact ids") for x in raw)
                if i is not None
            }
        )
        found = set(
            (
                await conn.execute(
                    select(contacts.c.id).where(contacts.c.id.in_(ids), contacts.c.team_id == caller.team_id)
                )
            ).scalars()
        )
        if found != set(ids):
            raise NotFound("contact")
        values["contact_ids"] = ids
    return values


async def _write_contacts(conn: AsyncConnection, deal_id: int, contact_ids: list[int] | None) -> None:
    if contact_ids is None:
        return
    await conn.execute(deal_contacts.delete().where(deal_contacts.c.deal_id == deal_id))
    if contact_ids:
        await conn.execute(
            deal_contacts.insert(), [{"deal_id": deal_id, "contact_id": c} for c in contact_ids]
        )


async def create_deal(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    async with rt.engine.begin() as conn:
        values = await _fields(conn, caller, body, new=True)
        contact_ids = values.pop("contact_ids", None)
        stamp = now()
        result = await conn.execute(
            deals.insert().values(team_id=caller.team_id, created_at=stamp, updated_at=stamp, **values)
        )
        deal_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        await _write_contacts(conn, deal_id, contact_ids)
        row = (await conn.execute(select(deals).where(deals.c.id == deal_id))).one()
        return (await _views(conn, [row]))[0]


async def get_deal(rt: Runtime, caller: Caller, deal_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        return (await _views(conn, [await deal_row(conn, caller, deal_id)]))[0]


async def update_deal(rt: Runtime, caller: Caller, deal_id: int, body: dict[str, Any]) -> dict[str, object]:
    async with rt.engine.begin() as conn:
        row = await deal_row(conn, caller, deal_id)
        values = await _fields(conn, caller, body, new=False)
        contact_ids = values.pop("contact_ids", None)
        await conn.execute(update(deals).where(deals.c.id == row.id).values(updated_at=now(), **values))
        await _write_contacts(conn, row.id, contact_ids)
        fresh = (await conn.execute(select(deals).where(deals.c.id == row.id))).one()
        return (await _views(conn, [fresh]))[0]


async def list_deals(
    rt: Runtime,
    caller: Caller,
    *,
    stage: str | None = None,
    owner_id: int | None = None,
    company_id: int | None = None,
    contact_id: int | None = None,
    query: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, object]], int]:
    where = [deals.c.team_id == caller.team_id]
    if stage is not None:
        where.append(deals.c.stage == stage)
    if owner_id is not None:
        where.append(deals.c.owner_id == owner_id)
    if company_id is not None:
        where.append(deals.c.company_id == company_id)
    if contact_id is not None:
        where.append(
            deals.c.id.in_(select(deal_contacts.c.deal_id).where(deal_contacts.c.contact_id == contact_id))
        )
    if query:
        like = f"%{like_escape(fold_name(query.strip()))}%"  # accents and case off, as for contacts
        where.append(folded(deals.c.name, rt.engine.dialect.name).like(like, escape="\\"))
    async with rt.engine.connect() as conn:
        total = int(await conn.scalar(select(func.count()).select_from(deals).where(*where)) or 0)
        rows = (
            await conn.execute(
                select(deals)
                .where(*where)
                .order_by(deals.c.updated_at.desc(), deals.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        return await _views(conn, list(rows)), total


async def sent_from_records(rt: Runtime, caller: Caller, body: dict[str, Any]) -> tuple[list[int], list[int]]:
    """The `company_id` / `deal_id` an email is sent from (or filed on), checked to be the
    team's (404 otherwise): (company ids, deal ids)."""
    company_id = db_int(body.get("company_id"), field="company_id")
    deal_id = db_int(body.get("deal_id"), field="deal_id")
    async with rt.engine.connect() as conn:
        if company_id is not None:
            await team_company_id(conn, caller.team_id, company_id)
        if deal_id is not None:
            await deal_row(conn, caller, deal_id)
    return ([company_id] if company_id is not None else []), ([deal_id] if deal_id is not None else [])

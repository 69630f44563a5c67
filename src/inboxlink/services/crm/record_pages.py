"""A company's or a deal's timeline and attachments, paged like a contact's (services.crm.records:
newest first, an opaque `before` cursor)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, and_, or_, select

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.companies import company_row
from inboxlink.services.crm.deals import deal_row
from inboxlink.services.crm.records import DEFAULT_PAGE, Page, _cursor, _read_cursor, linked_attachments
from inboxlink.services.crm.timeline import email_views
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.crm_tables import email_companies, email_deals
from inboxlink.storage.tables import emails

_LINKS: dict[str, tuple[Table, str]] = {
    "company": (email_companies, "company_id"),
    "deal": (email_deals, "deal_id"),
}


async def _check(rt: Runtime, caller: Caller, kind: str, record_id: int) -> None:
    async with rt.engine.connect() as conn:
        if kind == "company":
            await company_row(conn, caller, record_id)
        else:
            await deal_row(conn, caller, record_id)


async def record_emails(
    rt: Runtime,
    caller: Caller,
    kind: str,
    record_id: int,
    *,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
) -> Page:
    await _check(rt, caller, kind, record_id)
    table, column = _LINKS[kind]
    query = (
        select(emails.c.id, emails.c.created_at)
        .join(table, table.c.email_id == emails.c.id)
        .where(table.c[column] == record_id, emails.c.team_id == caller.team_id)
        .order_by(emails.c.created_at.desc(), emails.c.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        stamp, last_id = _read_cursor(before, 2)
        try:
            when = datetime.fromisoformat(stamp)
        except (TypeError, ValueError) as exc:
            raise ServiceError(
                "invalid_cursor", "before must be a next_cursor value from an earlier page.", field="before"
            ) from exc
        query = query.where(
            or_(emails.c.created_at < when, and_(emails.c.created_at == when, emails.c.id < last_id))
        )
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        items = await email_views(rt, conn, caller.team_id, [r.id for r in rows[:limit]])
    last = rows[limit - 1] if len(rows) > limit else None
    return Page(items, _cursor(last.created_at.isoformat(), last.id) if last is not None else None)


async def record_attachments(
    rt: Runtime,
    caller: Caller,
    kind: str,
    record_id: int,
    *,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
) -> Page:
    await _check(rt, caller, kind, record_id)
    table, column = _LINKS[kind]
    return await linked_attachments(
        rt, caller, table, table.c[column] == record_id, limit=limit, before=before
    )

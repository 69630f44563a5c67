"""Reading what is on the records: one email, a thread, a contact's timeline and attachments, an
attachment's bytes. Every query is scoped to the caller's team."""

from __future__ import annotations

from sqlalchemy import select

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contacts import get_contact_row
from inboxlink.services.crm.timeline import email_views
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.tables import attachments, email_contacts, emails, threads


async def get_email(rt: Runtime, caller: Caller, email_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        views = await email_views(rt, conn, caller.team_id, [email_id])
    if not views:
        raise NotFound("email")
    return views[0]


async def get_thread(rt: Runtime, caller: Caller, thread_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(threads).where(threads.c.id == thread_id, threads.c.team_id == caller.team_id)
            )
        ).first()
        if row is None:
            raise NotFound("thread")
        ids = (
            (
                await conn.execute(
                    select(emails.c.id)
                    .where(emails.c.thread_id == thread_id)
                    .order_by(emails.c.created_at, emails.c.id)
                )
            )
            .scalars()
            .all()
        )
        items = await email_views(rt, conn, caller.team_id, list(ids))
    return {"id": row.id, "subject": row.subject, "emails": items}


async def contact_emails(rt: Runtime, caller: Caller, contact_id: int) -> list[dict[str, object]]:
    await get_contact_row(rt, caller, contact_id)
    async with rt.engine.connect() as conn:
        ids = (
            (
                await conn.execute(
                    select(emails.c.id)
                    .join(email_contacts, email_contacts.c.email_id == emails.c.id)
                    .where(email_contacts.c.contact_id == contact_id, emails.c.team_id == caller.team_id)
                    .order_by(emails.c.created_at.desc(), emails.c.id.desc())
                )
            )
            .scalars()
            .all()
        )
        return await email_views(rt, conn, caller.team_id, list(ids))


async def contact_attachments(rt: Runtime, caller: Caller, contact_id: int) -> list[dict[str, object]]:
    await get_contact_row(rt, caller, contact_id)
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(attachments)
                .join(email_contacts, email_contacts.c.email_id == attachments.c.email_id)
                .where(email_contacts.c.contact_id == contact_id, attachments.c.team_id == caller.team_id)
                .order_by(attachments.c.id.desc())
            )
        ).all()
    return [
        {
            "id": r.id,
            "filename": r.filename,
            "content_type": r.content_type,
            "size": r.size,
            "email_id": r.email_id,
            "available": r.blob is not None,
        }
        for r in rows
    ]


async def attachment_bytes(rt: Runtime, caller: Caller, attachment_id: int) -> tuple[str, str, bytes]:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(attachments).where(
                    attachments.c.id == attachment_id, attachments.c.team_id == caller.team_id
                )
            )
        ).first()
    if row is None:
        raise NotFound("attachment")
    if row.blob is None:
        raise ServiceError(
            "attachment_unavailable", "This attachment was larger than the configured limit and was not kept."
        )
    return row.filename, row.content_type, rt.blobs.get(row.blob)

"""Correcting where an email is filed: move it to another contact and/or thread. Every move is
recorded (who, when, from where, to where) so a misfiled email can be traced back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contacts import get_contact_row
from inboxlink.services.crm.deals import sent_from_records
from inboxlink.services.crm.record_links import add_links
from inboxlink.services.crm.timeline import email_views, team_email_row
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import db_int
from inboxlink.storage.db import new_id
from inboxlink.storage.tables import email_contacts, email_moves, emails, threads


async def relink_email(rt: Runtime, caller: Caller, email_id: int, body: dict[str, Any]) -> dict[str, object]:
    """Body: `contact_id` (file it on this contact), `from_contact_id` (take it off this one; without
    it the email leaves all its other contacts), `thread_id` (a thread of the team, or "new")."""
    to_contact = db_int(body.get("contact_id"), field="contact_id")
    from_contact = db_int(body.get("from_contact_id"), field="from_contact_id")
    wanted_thread = body.get("thread_id")
    # "File on this company/deal": added to what the email is on (issue 13).
    company_ids, deal_ids = await sent_from_records(rt, caller, body)
    if to_contact is None and wanted_thread is None and not company_ids and not deal_ids:
        raise ServiceError(
            "field_required", "Say where the email goes: contact_id, thread_id, company_id and/or deal_id."
        )
    if to_contact is not None:
        await get_contact_row(rt, caller, to_contact)
    async with rt.engine.begin() as conn:
        row = await team_email_row(conn, caller.team_id, email_id)
        before = sorted(
            (
                await conn.execute(
                    select(email_contacts.c.contact_id).where(email_contacts.c.email_id == email_id)
                )
            ).scalars()
        )
        after = set(before)
        if to_contact is not None:
            if from_contact is not None:
                after.discard(from_contact)
            else:
                after = set()
            after.add(to_contact)
        thread_id = row.thread_id
        if wanted_thread == "new":
            result = await conn.execute(
                threads.insert().values(team_id=caller.team_id, subject=row.subject[:2000], created_at=now())
            )
            thread_id = new_id(result)
        elif wanted_thread is not None:
            db_int(wanted_thread, field="thread_id", what='a thread id or "new"')
            found = await conn.scalar(
                select(threads.c.id).where(threads.c.id == wanted_thread, threads.c.team_id == caller.team_id)
            )
            if found is None:
                raise NotFound("thread")
            thread_id = wanted_thread
        await conn.execute(delete(email_contacts).where(email_contacts.c.email_id == email_id))
        if after:
            await conn.execute(
                email_contacts.insert(),
                [
                    {"email_id": email_id, "contact_id": c, "created_at": row.created_at}
                    for c in sorted(after)
                ],
            )
        await conn.execute(emails.update().where(emails.c.id == email_id).values(thread_id=thread_id))
        await add_links(conn, email_id, company_ids, deal_ids)
        await conn.execute(
            email_moves.insert().values(
                team_id=caller.team_id,
                email_id=email_id,
                user_id=caller.user_id,
                from_contact_ids=before,
                to_contact_ids=sorted(after),
                from_thread_id=row.thread_id,
                to_thread_id=thread_id,
                created_at=now(),
            )
        )
        view = (await email_views(rt, conn, caller.team_id, [email_id]))[0]
    view["moves"] = await email_move_history(rt, caller, email_id)
    rt.timeline.publish(caller.team_id, {"type": "email", "email_id": email_id, "thread_id": thread_id})
    return view


async def email_move_history(rt: Runtime, caller: Caller, email_id: int) -> list[dict[str, object]]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(email_moves)
                .where(email_moves.c.email_id == email_id, email_moves.c.team_id == caller.team_id)
                .order_by(email_moves.c.id)
            )
        ).all()
    return [
        {
            "id": r.id,
            "user_id": r.user_id,
            "from_contact_ids": r.from_contact_ids,
            "to_contact_ids": r.to_contact_ids,
            "from_thread_id": r.from_thread_id,
            "to_thread_id": r.to_thread_id,
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]

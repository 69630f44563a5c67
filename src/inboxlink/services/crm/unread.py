"""Never miss a reply (issue 14): per-user unread state of logged inbound email, and the "Replies"
list across all of a team's contacts — unread first, newest first — with the contact and a snippet.

An inbound email of the user's team logged since the user joined is unread for them until they see
it on a record (`mark_read`); reading is per user, so a teammate's reading changes nothing for you."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.quoted import snippet
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.timeline import unseal
from inboxlink.services.errors import NotFound
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.storage.reading_tables import email_reads
from inboxlink.storage.tables import contacts, email_contacts, emails, users

MAX_PAGE = 100


def _joined(caller: Caller) -> Any:
    return select(users.c.created_at).where(users.c.id == caller.user_id).scalar_subquery()


def _on_a_contact() -> Any:
    return select(email_contacts.c.email_id).where(email_contacts.c.email_id == emails.c.id).exists()


def _unread(caller: Caller) -> Any:
    """True for an inbound email the caller has not seen (a SQL expression over `emails`)."""
    seen = (
        select(email_reads.c.email_id)
        .where(email_reads.c.user_id == caller.user_id, email_reads.c.email_id == emails.c.id)
        .exists()
    )
    return and_(emails.c.created_at >= _joined(caller), ~seen)


def _replies(caller: Caller) -> Any:
    return and_(emails.c.team_id == caller.team_id, emails.c.direction == "inbound", _on_a_contact())


async def unread_count(rt: Runtime, caller: Caller) -> int:
    query = select(func.count()).select_from(emails).where(_replies(caller), _unread(caller))
    async with rt.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def unread_among(rt: Runtime, caller: Caller, email_ids: Iterable[int]) -> set[int]:
    """Which of these emails (shown on a record) are unread replies for the caller."""
    ids = list(email_ids)
    if not ids:
        return set()
    query = select(emails.c.id).where(_replies(caller), _unread(caller), emails.c.id.in_(ids))
    async with rt.engine.connect() as conn:
        return {r.id for r in await conn.execute(query)}


async def _insert_reads(conn: AsyncConnection, caller: Caller, ids: Iterable[int]) -> None:
    wanted = set(ids)
    if not wanted:
        return
    known = {
        r.email_id
        for r in await conn.execute(
            select(email_reads.c.email_id).where(
                email_reads.c.user_id == caller.user_id, email_reads.c.email_id.in_(wanted)
            )
        )
    }
    stamp = now()
    rows = [{"user_id": caller.user_id, "email_id": i, "read_at": stamp} for i in sorted(wanted - known)]
    if rows:
        await conn.execute(email_reads.insert(), rows)


async def mark_read(rt: Runtime, caller: Caller, email_ids: Iterable[int]) -> set[int]:
    """Mark the caller's team's inbound emails among `email_ids` read; returns those that were unread."""
    ids = list(email_ids)
    async with rt.engine.begin() as conn:
        rows = await conn.execute(
            select(emails.c.id).where(_replies(caller), _unread(caller), emails.c.id.in_(ids))
        )
        newly = {r.id for r in rows}
        await _insert_reads(conn, caller, newly)
    return newly


async def mark_one(rt: Runtime, caller: Caller, email_id: int, *, read: bool = True) -> dict[str, object]:
    """One email read (or unread again); NotFound for another team's email or an outbound one."""
    async with rt.engine.begin() as conn:
        row = (
            await conn.execute(select(emails.c.id).where(_replies(caller), emails.c.id == email_id))
        ).first()
        if row is None:
            raise NotFound("email")
        if read:
            await _insert_reads(conn, caller, [email_id])
        else:
            await conn.execute(
                email_reads.delete().where(
                    email_reads.c.user_id == caller.user_id, email_reads.c.email_id == email_id
                )
            )
    return {"email_id": email_id, "unread": not read}


async def list_replies(
    rt: Runtime, caller: Caller, *, limit: int = 25, offset: int = 0, unread_only: bool = False
) -> tuple[list[dict[str, object]], int]:
    """Replies across all contacts: unread first, then newest first; with (items, total)."""
    limit = max(1, min(limit, MAX_PAGE))
    unread = _unread(caller)
    # The contact an email is shown under: the first one it was logged on.
    contact_id = (
        select(func.min(email_contacts.c.contact_id))
        .where(email_contacts.c.email_id == emails.c.id)
        .scalar_subquery()
    )
    where = [_replies(caller), *([unread] if unread_only else [])]
    query = (
        select(
            emails.c.id, emails.c.subject, emails.c.text, emails.c.from_email, emails.c.from_name,
            emails.c.created_at, emails.c.thread_id, case((unread, literal(1)), else_=literal(0)).label("unread"),
            contact_id.label("contact_id"),
        )
        .where(*where)
        .order_by(case((unread, literal(0)), else_=literal(1)), emails.c.created_at.desc(), emails.c.id.desc())
        .limit(limit)
        .offset(max(0, offset))
    )  # fmt: skip
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        total = int((await conn.execute(select(func.count()).select_from(emails).where(*where))).scalar_one())
        people = {
            r.id: r
            for r in await conn.execute(
                select(contacts.c.id, contacts.c.name, contacts.c.email).where(
                    contacts.c.team_id == caller.team_id, contacts.c.id.in_({r.contact_id for r in rows})
                )
            )
        }
    items: list[dict[str, object]] = []
    for r in rows:
        person = people.get(r.contact_id)
        items.append(
            {
                "email_id": r.id,
                "thread_id": r.thread_id,
                "subject": r.subject,
                "snippet": snippet(unseal(rt, r.text) or ""),
                "from": {"email": r.from_email, "name": r.from_name},
                "contact": {"id": person.id, "name": person.name, "email": person.email} if person else None,
                "created_at": iso(r.created_at),
                "unread": bool(r.unread),
            }
        )
    return items, total

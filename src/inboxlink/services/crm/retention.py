"""Retention: a team may have logged emails deleted once they are older than N days (off by
default). The worker runs `run_retention_batch` daily in small batches, each its own transaction,
so the database is never locked for long; attachments and their blob files go with the emails.
An email's age is that of its date (sent_at), else of when it was logged. Mail still waiting to be
sent is never touched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.crm.erase import delete_emails, scrub, unlink_blobs
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.privacy_tables import team_privacy
from inboxlink.storage.tables import attachments, emails, outbox

DEFAULT_BATCH = 200


@dataclass(frozen=True)
class Preview:
    emails: int
    attachments: int
    bytes: int


def _old(team_id: int, cutoff: datetime) -> ColumnElement[bool]:
    age = func.coalesce(emails.c.sent_at, emails.c.created_at)
    unsent = select(outbox.c.email_id).where(outbox.c.state.in_(("pending", "sending", "scheduled")))
    return and_(emails.c.team_id == team_id, age < cutoff, emails.c.id.not_in(unsent))


async def preview(rt: Runtime, team_id: int, days: int, *, at: datetime | None = None) -> Preview:
    """What a retention of `days` would delete now: emails, attachments and their bytes."""
    cutoff = (at or now()) - timedelta(days=days)
    async with rt.engine.connect() as conn:
        count = int(
            await conn.scalar(select(func.count()).select_from(emails).where(_old(team_id, cutoff))) or 0
        )
        files = (
            await conn.execute(
                select(func.count(), func.coalesce(func.sum(attachments.c.size), 0))
                .select_from(attachments.join(emails, emails.c.id == attachments.c.email_id))
                .where(_old(team_id, cutoff))
            )
        ).one()
    return Preview(count, int(files[0] or 0), int(files[1] or 0))


async def _days(conn: AsyncConnection, team_id: int) -> int | None:
    found = await conn.scalar(select(team_privacy.c.retention_days).where(team_privacy.c.team_id == team_id))
    return None if found is None else int(found)


async def run_retention_batch(
    rt: Runtime, team_id: int, *, batch: int = DEFAULT_BATCH, at: datetime | None = None
) -> int:
    """Delete up to `batch` of the team's emails past its retention; the number deleted (0: done,
    or retention is off). Call again until it returns 0."""
    async with rt.engine.begin() as conn:
        days = await _days(conn, team_id)
        if days is None:
            return 0
        cutoff = (at or now()) - timedelta(days=days)
        ids = [
            r.id
            for r in await conn.execute(
                select(emails.c.id).where(_old(team_id, cutoff)).order_by(emails.c.id).limit(batch)
            )
        ]
        blobs = await delete_emails(conn, ids)
    await unlink_blobs(rt, blobs)
    return len(ids)


async def teams_with_retention(rt: Runtime) -> list[int]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            select(team_privacy.c.team_id).where(team_privacy.c.retention_days.is_not(None))
        )
        return [r.team_id for r in rows]


async def run_retention(rt: Runtime, *, batch: int = DEFAULT_BATCH, at: datetime | None = None) -> int:
    """Every team's retention, batch after batch; then the WAL is scrubbed once."""
    total = 0
    for team_id in await teams_with_retention(rt):
        while deleted := await run_retention_batch(rt, team_id, batch=batch, at=at):
            total += deleted
        async with rt.engine.begin() as conn:
            await conn.execute(
                team_privacy.update()
                .where(team_privacy.c.team_id == team_id)
                .values(retention_last_run=now())
            )
    if total:
        await scrub(rt)
    return total

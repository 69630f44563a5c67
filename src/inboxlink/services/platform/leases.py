"""Inbox leases: which worker monitors which inbox, so N `inboxlink worker` processes on one
PostgreSQL share the inboxes and never follow the same one twice.

A lease is a row (inbox, owner, token, expires_at). A worker claims inboxes whose lease is missing or
expired, renews its own on every supervisor pass (heartbeat), and deletes them when it stops. A
worker that dies simply stops renewing; another takes over once the lease expires. Claims are guarded
UPDATEs/INSERTs, so two workers racing for one inbox cannot both win. The token grows with every new
holder (fencing): a worker that finds another token on renewal has lost the inbox and stops it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.tables import inbox_leases


async def owners(rt: Runtime) -> set[str]:
    async with rt.engine.connect() as conn:
        return set((await conn.execute(select(inbox_leases.c.owner).distinct())).scalars())


async def claim(
    rt: Runtime, owner: str, inbox_ids: Iterable[int], ttl: float, limit: int, dead_owners: Iterable[str] = ()
) -> dict[int, int]:
    """Try to take up to `limit` of `inbox_ids`; returns {inbox_id: token} of those won. Leases of
    `dead_owners` (workers known to be gone, e.g. a killed process on this host) are taken at once
    instead of after they expire."""
    dead = list(dead_owners)
    won: dict[int, int] = {}
    for inbox_id in inbox_ids:
        if len(won) >= limit:
            break
        stamp = now()
        async with rt.engine.begin() as conn:
            row = (
                await conn.execute(select(inbox_leases).where(inbox_leases.c.inbox_id == inbox_id))
            ).first()
            if row is None:
                try:
                    async with conn.begin_nested():
                        await conn.execute(
                            inbox_leases.insert().values(
                                inbox_id=inbox_id,
                                owner=owner,
                                token=1,
                                expires_at=stamp + timedelta(seconds=ttl),
                            )
                        )
                    won[inbox_id] = 1
                except IntegrityError:
                    pass  # another worker inserted it a moment ago
                continue
            taken = await conn.execute(
                update(inbox_leases)
                .where(
                    inbox_leases.c.inbox_id == inbox_id,
                    inbox_leases.c.token == row.token,
                    or_(
                        inbox_leases.c.expires_at < stamp,
                        inbox_leases.c.owner == owner,
                        inbox_leases.c.owner.in_(dead),
                    ),
                )
                .values(owner=owner, token=row.token + 1, expires_at=stamp + timedelta(seconds=ttl))
            )
            if taken.rowcount == 1:
                won[inbox_id] = row.token + 1
    return won


async def renew(rt: Runtime, owner: str, held: dict[int, int], ttl: float) -> set[int]:
    """Extend the leases still ours; returns the inbox ids that were lost to someone else."""
    if not held:
        return set()
    stamp = now()
    async with rt.engine.begin() as conn:
        for inbox_id, token in held.items():
            await conn.execute(
                update(inbox_leases)
                .where(
                    and_(
                        inbox_leases.c.inbox_id == inbox_id,
                        inbox_leases.c.owner == owner,
                        inbox_leases.c.token == token,
                    )
                )
                .values(expires_at=stamp + timedelta(seconds=ttl))
            )
        rows = await conn.execute(
            select(inbox_leases.c.inbox_id).where(
                inbox_leases.c.owner == owner, inbox_leases.c.inbox_id.in_(list(held))
            )
        )
        still = {r.inbox_id for r in rows}
    return set(held) - still


async def release(rt: Runtime, owner: str, inbox_ids: Iterable[int] | None = None) -> None:
    query = delete(inbox_leases).where(inbox_leases.c.owner == owner)
    if inbox_ids is not None:
        query = query.where(inbox_leases.c.inbox_id.in_(list(inbox_ids)))
    async with rt.engine.begin() as conn:
        await conn.execute(query)

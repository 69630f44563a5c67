"""Inbox leases: which worker monitors which inbox, so N `inboxlink worker` processes on one
PostgreSQL share the inboxes and never follow the same one twice.

A worker registers a row in `workers` and renews it every TTL / 4 (sync.supervisor): that one UPDATE is
the heartbeat of all its leases (a lease row (inbox, owner, token) is valid while its owner's row
has not expired). A worker claims, in one statement, up to n leases that are free (owner ''), whose
owner is gone (no live row) — `UPDATE … WHERE inbox_id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT
n) RETURNING`, so racing workers take disjoint sets — and gives leases back in one. Every statement
count here is constant in the number of inboxes.

Fencing: the token grows with every new holder. A monitor runs with its lease in a context
variable (`LEASE`), and every write it makes for its inbox calls `fence(conn)` inside the write's
transaction: the lease must still carry this token and the worker's row must be live, else
`LeaseLost` rolls the write back. On PostgreSQL the check takes a share lock on the lease row until
commit, so a takeover (which locks it for update, skipping locked rows) cannot commit in between:
a paused worker that lost its inbox writes nothing after the new owner has started."""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Executable, and_, exists, insert, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inboxlink.services.platform import metrics
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.tables import Stamp, inbox_leases, inboxes
from inboxlink.storage.worker_tables import workers

FREE = ""  # owner of a lease nobody holds (released, or never claimed); the token is kept
GONE = datetime(1970, 1, 1, tzinfo=UTC)  # expires_at of a worker known to be dead
# Disconnect reasons under which a monitor keeps running (it is the one that retries).
RETRYING = ("connection_failed", "oauth_client_invalid")


class LeaseLost(Exception):
    """A write was refused: this worker no longer holds the inbox's lease (or its heartbeat lapsed)."""


@dataclass(frozen=True)
class Lease:
    inbox_id: int
    owner: str
    token: int
    ttl: float = 30.0  # the holder's lease TTL: how long a fenced transaction may sit idle (below)


# Set for each monitor task by the supervisor: the lease its writes are fenced with.
LEASE: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("inboxlink_lease", default=None)


def monitored() -> ColumnElement[bool]:
    """The inboxes that want a monitor (the supervisor's rule, as SQL for the claim)."""
    return and_(
        inboxes.c.deleted_at.is_(None),
        or_(
            inboxes.c.status == "connected",
            and_(inboxes.c.status == "disconnected", inboxes.c.disconnect_reason.in_(RETRYING)),
        ),
    )


async def fence(conn: AsyncConnection) -> None:
    """Inside a monitor's write transaction: refuse the write unless its lease is still current.
    Outside a monitor (the API, the CLI) there is no lease and nothing to check."""
    lease = LEASE.get()
    if lease is None:
        return
    if conn.dialect.name == "postgresql":
        # The share lock below makes a takeover skip this row until commit. A worker paused
        # (SIGSTOP, a frozen VM) inside this transaction would keep its inbox from every other
        # worker for as long as it is paused; PostgreSQL ends such a session after one TTL instead,
        # which frees the row (and the paused worker's commit then fails: nothing written).
        await conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {int(lease.ttl * 1000)}"))
    found = await conn.scalar(
        select(inbox_leases.c.token)
        .select_from(inbox_leases.join(workers, workers.c.id == inbox_leases.c.owner))
        .where(
            inbox_leases.c.inbox_id == lease.inbox_id,
            inbox_leases.c.owner == lease.owner,
            inbox_leases.c.token == lease.token,
            workers.c.expires_at > now(),
        )
        .with_for_update(read=True, of=inbox_leases)
    )
    if found is None:
        metrics.FENCED_WRITES.inc()
        raise LeaseLost(f"inbox {lease.inbox_id}: the lease (token {lease.token}) is no longer ours")


async def heartbeat(
    rt: Runtime, owner: str, host: str, pid: int, ttl: float, *, engine: AsyncEngine | None = None
) -> None:
    """Register or renew this worker: one UPDATE (an INSERT the first time); on `engine` when given
    (a connection of its own, so a busy pool cannot delay the renewal)."""
    stamp = now()
    values = {"heartbeat_at": stamp, "expires_at": stamp + timedelta(seconds=ttl)}
    async with (engine or rt.engine).begin() as conn:
        done = await conn.execute(update(workers).where(workers.c.id == owner).values(**values))
        if done.rowcount == 0:
            await conn.execute(
                insert(workers).values(id=owner, host=host, pid=pid, started_at=stamp, **values)
            )


async def live_workers(rt: Runtime) -> list[tuple[str, str, int]]:
    """(id, host, pid) of the workers whose heartbeat has not expired."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            select(workers.c.id, workers.c.host, workers.c.pid).where(workers.c.expires_at > now())
        )
        return [(r.id, r.host, r.pid) for r in rows]


async def bury(rt: Runtime, dead: Iterable[str]) -> None:
    """Workers known to be gone (a killed process on this host): their leases are free at once."""
    gone = list(dead)
    if gone:
        async with rt.engine.begin() as conn:
            await conn.execute(update(workers).where(workers.c.id.in_(gone)).values(expires_at=GONE))


async def held(rt: Runtime, owner: str) -> dict[int, int]:
    """{inbox_id: token} of the leases this worker holds now (one SELECT)."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            select(inbox_leases.c.inbox_id, inbox_leases.c.token).where(inbox_leases.c.owner == owner)
        )
        return {r.inbox_id: r.token for r in rows}


def _insert_missing(dialect: str) -> Executable:
    """A free lease row for every monitored inbox that has none (two workers may race: no error)."""
    source = select(inboxes.c.id, literal(FREE), literal(0), literal(now(), Stamp)).where(
        monitored(), ~exists().where(inbox_leases.c.inbox_id == inboxes.c.id)
    )
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = ["inbox_id", "owner", "token", "expires_at"]
    return make(inbox_leases).from_select(columns, source).on_conflict_do_nothing()


async def claim(rt: Runtime, owner: str, limit: int) -> dict[int, int]:
    """Take up to `limit` free or orphaned leases of monitored inboxes; returns {inbox_id: token}.
    Two statements whatever the number of inboxes."""
    if limit <= 0:
        return {}
    stamp = now()
    alive = exists().where(workers.c.id == inbox_leases.c.owner, workers.c.expires_at > stamp)
    takeable = (
        select(inbox_leases.c.inbox_id)
        .join(inboxes, inboxes.c.id == inbox_leases.c.inbox_id)
        .where(monitored(), or_(inbox_leases.c.owner == FREE, ~alive))
        .order_by(inbox_leases.c.inbox_id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=inbox_leases)
    )
    async with rt.engine.begin() as conn:
        await conn.execute(_insert_missing(conn.dialect.name))
        rows = await conn.execute(
            update(inbox_leases)
            .where(inbox_leases.c.inbox_id.in_(takeable.scalar_subquery()))
            .values(owner=owner, token=inbox_leases.c.token + 1, expires_at=stamp)
            .returning(inbox_leases.c.inbox_id, inbox_leases.c.token)
        )
        won = {r.inbox_id: r.token for r in rows}
    metrics.LEASE_CLAIMS.inc(len(won))
    return won


async def release(rt: Runtime, owner: str, inbox_ids: Iterable[int] | None = None) -> None:
    """Give leases back (all of them without `inbox_ids`) in one UPDATE; tokens are kept, so the
    next holder's is higher than every earlier one."""
    query = update(inbox_leases).where(inbox_leases.c.owner == owner)
    if inbox_ids is not None:
        ids = list(inbox_ids)
        if not ids:
            return
        query = query.where(inbox_leases.c.inbox_id.in_(ids))
    async with rt.engine.begin() as conn:
        await conn.execute(query.values(owner=FREE))


async def retire(rt: Runtime, owner: str) -> None:
    """A clean stop: every lease back, and the worker row gone."""
    await release(rt, owner)
    async with rt.engine.begin() as conn:
        await conn.execute(workers.delete().where(workers.c.id == owner))


async def holders(rt: Runtime) -> list[tuple[int, str, int]]:
    """(inbox_id, owner, token) of every held lease whose owner is live (for `inboxlink status`)."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            select(inbox_leases.c.inbox_id, inbox_leases.c.owner, inbox_leases.c.token)
            .join(workers, workers.c.id == inbox_leases.c.owner)
            .where(workers.c.expires_at > now())
        )
        return [(r.inbox_id, r.owner, r.token) for r in rows]

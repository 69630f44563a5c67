"""`inboxlink status`: one line per inbox with the facts of its connection health and the worker
that follows it, then one line per live worker with the number of inboxes it holds."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from inboxlink.services.platform import leases
from inboxlink.services.platform.runtime import Runtime, as_utc
from inboxlink.storage.tables import inboxes


def _when(v: object) -> str:
    s = as_utc(v)  # type: ignore[arg-type]
    return s.strftime("%Y-%m-%dT%H:%M:%SZ") if s else "-"


async def status_lines(rt: Runtime) -> list[str]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(select(inboxes).where(inboxes.c.deleted_at.is_(None)).order_by(inboxes.c.id))
        ).all()
    # Only leases of live workers count: an expired holder follows nothing (its inboxes are up for grabs).
    holder = {inbox_id: owner for inbox_id, owner, _token in await leases.holders(rt)}
    lines = []
    for r in rows:
        state = (
            r.status
            if r.status == "connected"
            else f"{r.status}({r.disconnect_reason}) since {_when(r.disconnected_at)}"
        )
        error = (r.last_error or "-").replace("\n", " ")[:160]
        lines.append(
            f"{r.id}\t{r.email}\t{state}\tlast_sync={_when(r.last_sync_at)}\tnext_retry={_when(r.next_retry_at)}"
            f"\tlast_error={error}\tworker={holder.get(r.id, '-')}"
        )
    if not lines:
        lines.append("no inboxes connected")
    held = Counter(holder[r.id] for r in rows if r.id in holder)
    return lines + await worker_lines(rt, held, unheld=len(rows) - sum(held.values()))


async def worker_lines(rt: Runtime, held: Counter[str], unheld: int) -> list[str]:
    """One line per live worker (heartbeat not expired), with how many inboxes it holds."""
    live = await leases.live_workers(rt)
    lines = [f"workers: {len(live)} live; inboxes held by none: {unheld}"]
    for owner, host, pid in sorted(live):
        lines.append(f"worker {owner}\thost={host}\tpid={pid}\tinboxes={held.get(owner, 0)}")
    return lines

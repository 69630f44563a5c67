"""`inboxlink status`: one line per inbox with the facts of its connection health."""

from __future__ import annotations

from sqlalchemy import select

from inboxlink.services.platform.runtime import Runtime, as_utc
from inboxlink.storage.tables import inboxes


async def status_lines(rt: Runtime) -> list[str]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(select(inboxes).where(inboxes.c.deleted_at.is_(None)).order_by(inboxes.c.id))
        ).all()

    def when(v: object) -> str:
        s = as_utc(v)  # type: ignore[arg-type]
        return s.strftime("%Y-%m-%dT%H:%M:%SZ") if s else "-"

    lines = []
    for r in rows:
        state = (
            r.status
            if r.status == "connected"
            else f"{r.status}({r.disconnect_reason}) since {when(r.disconnected_at)}"
        )
        error = (r.last_error or "-").replace("\n", " ")[:160]
        lines.append(
            f"{r.id}\t{r.email}\t{state}\tlast_sync={when(r.last_sync_at)}\tnext_retry={when(r.next_retry_at)}\tlast_error={error}"
        )
    if not lines:
        lines.append("no inboxes connected")
    return lines

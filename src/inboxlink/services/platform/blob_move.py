"""`inboxlink blobs move`: copy the attachment blobs written to this host's data directory (the file
store, the only store before migration 0015) into the database, so that every host can read them.
Run it on each host that has an attachments directory; it is resumable and safe next to running
processes (each attachment row is switched by compare-and-set, then its file goes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.db_blobs import PREFIX, delete_blobs
from inboxlink.storage.tables import attachments


@dataclass(frozen=True)
class Moved:
    moved: int
    missing: int  # referenced, but not on this host's disk (another host's, or lost)


async def move_file_blobs(rt: Runtime, *, batch: int = 100, report: Callable[[str], None] = print) -> Moved:
    last, moved, missing = 0, 0, 0
    while True:
        async with rt.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(attachments.c.id, attachments.c.blob)
                    .where(
                        attachments.c.id > last,
                        attachments.c.blob.is_not(None),
                        attachments.c.blob.not_like(PREFIX + "%"),
                    )
                    .order_by(attachments.c.id)
                    .limit(batch)
                )
            ).all()
        if not found:
            return Moved(moved, missing)
        for row in found:
            try:
                data = await asyncio.to_thread(rt.blobs.get, row.blob)
            except FileNotFoundError:
                missing += 1
                continue
            name = await rt.attachment_store.database.put(data)
            async with rt.engine.begin() as conn:
                switched = await conn.execute(
                    attachments.update()
                    .where(attachments.c.id == row.id, attachments.c.blob == row.blob)
                    .values(blob=name)
                )
                if not switched.rowcount:  # forgotten or deleted meanwhile: the copy goes too
                    await delete_blobs(conn, [name])
                    continue
            await asyncio.to_thread(rt.blobs.delete, row.blob)
            moved += 1
        last = int(found[-1].id)
        report(f"moved {moved:,} blob(s) into the database; {missing:,} not on this host")

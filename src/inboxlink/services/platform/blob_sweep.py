"""Orphaned blobs: database blobs (`blob_chunks`) and files in the attachments directory that no row references — written before a
transaction that then rolled back, or left by a crash between a delete's commit and its unlink.
Swept once they are older than an hour (younger ones may belong to a transaction still open)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.tables import attachments

MIN_AGE = 3600.0
BATCH = 500


def _old_files(root: Path, cutoff: float) -> list[Path]:
    found: list[Path] = []
    if not root.is_dir():
        return found
    for sub in root.iterdir():
        if not sub.is_dir():
            continue
        for path in sub.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    found.append(path)
            except FileNotFoundError:
                continue
    return found


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


async def sweep_orphan_blobs(rt: Runtime, *, min_age: float = MIN_AGE) -> int:
    """Delete unreferenced database blobs and unlink unreferenced blob files (and stale temporary
    files) older than `min_age` seconds. Returns how many went."""
    removed = await rt.attachment_store.database.sweep_orphans(datetime.now(UTC) - timedelta(seconds=min_age))
    files = await asyncio.to_thread(_old_files, rt.blobs.root, time.time() - min_age)
    for start in range(0, len(files), BATCH):
        chunk = files[start : start + BATCH]
        names = [p.name for p in chunk if p.name.isalnum()]
        async with rt.engine.connect() as conn:
            rows = await conn.execute(select(attachments.c.blob).where(attachments.c.blob.in_(names)))
            used = {r.blob for r in rows}
        doomed = [p for p in chunk if p.name not in used]
        await asyncio.to_thread(_unlink, doomed)
        removed += len(doomed)
    return removed

"""Deleting logged mail for good (forgetting a contact, retention, never-logged sends): the emails,
everything that points at them, their attachments' blob files, threads left empty. Rows are found
through the foreign keys of the schema, so a table added later that points at emails or contacts
(deals, webhook deliveries, ...) is cleared too without a change here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.db import checkpoint_wal
from inboxlink.storage.db_blobs import delete_blobs
from inboxlink.storage.platform_tables import events, webhook_deliveries
from inboxlink.storage.sequence_tables import sequence_history
from inboxlink.storage.tables import attachments, emails, metadata, threads

BATCH = 500  # ids per statement: far below SQLite's variable limit


def _pointing_at(target: Table) -> list[tuple[Table, str, bool]]:
    """(table, column, nullable) for every foreign key column that references `target`'s id."""
    found = []
    for table in metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is target and fk.column.name == "id" and table is not target:
                found.append((table, fk.parent.name, bool(fk.parent.nullable)))
    return found


async def clear_references(
    conn: AsyncConnection, target: Table, ids: Sequence[int], *, keep: frozenset[str] = frozenset()
) -> None:
    """Rows that point at the doomed rows go (or lose the pointer, when it is optional). Tables in
    `keep` are left alone (the caller deals with them)."""
    for table, column, nullable in _pointing_at(target):
        if table.name in keep:
            continue
        col = table.c[column]
        for start in range(0, len(ids), BATCH):
            chunk = list(ids[start : start + BATCH])
            if nullable and not col.primary_key:
                await conn.execute(update(table).where(col.in_(chunk)).values({column: None}))
            else:
                await conn.execute(delete(table).where(col.in_(chunk)))


async def delete_emails(conn: AsyncConnection, email_ids: Sequence[int]) -> list[str]:
    """Delete the emails and all that hangs off them, in the caller's transaction. Returns the blob
    names to unlink once the transaction has committed (`unlink_blobs`)."""
    ids = sorted(set(email_ids))
    if not ids:
        return []
    blobs: list[str] = []
    thread_ids: set[int] = set()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        rows = await conn.execute(select(attachments.c.blob).where(attachments.c.email_id.in_(chunk)))
        blobs.extend(r.blob for r in rows if r.blob)
        rows = await conn.execute(select(emails.c.thread_id).where(emails.c.id.in_(chunk)).distinct())
        thread_ids.update(r.thread_id for r in rows)
    await delete_events(conn, ids)
    await forget_in_sequence_history(conn, ids)
    await clear_references(conn, emails, ids)
    # Bytes kept in the database go in this transaction, with the rows (files: `unlink_blobs`).
    await delete_blobs(conn, blobs)
    for start in range(0, len(ids), BATCH):
        await conn.execute(delete(emails).where(emails.c.id.in_(ids[start : start + BATCH])))
    empty = [
        t
        for t in sorted(thread_ids)
        if not await conn.scalar(select(exists().where(emails.c.thread_id == t)))
    ]
    if empty:
        await clear_references(conn, threads, empty, keep=frozenset({"emails"}))
        for start in range(0, len(empty), BATCH):
            await conn.execute(delete(threads).where(threads.c.id.in_(empty[start : start + BATCH])))
    return blobs


async def delete_events(conn: AsyncConnection, email_ids: Sequence[int]) -> None:
    """Events (and their webhook deliveries) that carry these emails: their payload is the email
    object, subject and addresses included, so they go with it."""
    ids = sorted(set(email_ids))
    for start in range(0, len(ids), BATCH):
        doomed = select(events.c.id).where(events.c.email_id.in_(ids[start : start + BATCH]))
        await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.event_id.in_(doomed)))
        await conn.execute(delete(events).where(events.c.id.in_(doomed)))


# What a sequence's history copied from an inbound email: its sender, and the auto-reply rule that
# matched (which may quote the subject). The note itself stays: the enrolment's story keeps its steps.
HISTORY_MAIL_KEYS = ("sender", "why")


async def forget_in_sequence_history(conn: AsyncConnection, email_ids: Sequence[int]) -> None:
    """History rows point at emails without a foreign key (a note outlives nothing), so they are
    reached here: the deleted email's id and what was copied from it go."""
    ids = sorted(set(email_ids))
    for start in range(0, len(ids), BATCH):
        rows = await conn.execute(
            select(sequence_history.c.id, sequence_history.c.detail).where(
                sequence_history.c.email_id.in_(ids[start : start + BATCH])
            )
        )
        for row in rows.all():
            detail = {k: v for k, v in (row.detail or {}).items() if k not in HISTORY_MAIL_KEYS}
            await conn.execute(
                update(sequence_history)
                .where(sequence_history.c.id == row.id)
                .values(email_id=None, detail=detail)
            )


async def unlink_blobs(rt: Runtime, names: Sequence[str]) -> None:
    """After the commit, the file blobs: a crash before this leaves files referenced by nothing,
    which the orphan sweep removes; the reverse order could leave rows without bytes."""
    await rt.attachment_store.unlink_files(names)


async def scrub(rt: Runtime) -> None:
    """Nothing of deleted rows stays readable: SQLite overwrites freed pages (secure_delete, set on
    every connection) and the WAL is checkpointed and truncated here. PostgreSQL keeps dead tuples
    until VACUUM (docs/privacy.md)."""
    await checkpoint_wal(rt.engine)

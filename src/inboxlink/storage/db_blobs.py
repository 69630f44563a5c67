"""Attachment bytes in the database (`blob_chunks`), so that every host of an installation on
PostgreSQL reads what any of them wrote. A blob is cut into chunks of at most CHUNK plaintext bytes;
each chunk is one SecretBox token (stored decoded from base64: a quarter smaller) whose plaintext
starts with a header naming the blob, the chunk's number and whether it is the last one — so a
chunk moved to another blob or position, or a blob cut short, is refused instead of read. Writing
and reading go a few chunks at a time: neither an attachment's ciphertext nor its plaintext is
ever held whole by this module."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inboxlink.storage.secretbox import SecretBox, SecretKeyError
from inboxlink.storage.tables import attachments
from inboxlink.storage.worker_tables import blob_chunks

PREFIX = "db-"  # never alphanumeric, so a database blob's name can never name a file (BlobStore)
CHUNK = 256 * 1024  # plaintext bytes per chunk
BATCH = 4  # chunks per statement, written or read: ~1 MiB


def is_db_blob(name: str) -> bool:
    return name.startswith(PREFIX)


async def delete_blobs(conn: AsyncConnection, names: Sequence[str]) -> None:
    """In the caller's transaction: the bytes go with the rows that pointed at them. Names of
    file blobs are skipped (BlobStore deletes those after the commit)."""
    doomed = [n for n in names if is_db_blob(n)]
    for start in range(0, len(doomed), 500):
        await conn.execute(delete(blob_chunks).where(blob_chunks.c.blob.in_(doomed[start : start + 500])))


def _header(name: str, seq: int, last: bool) -> bytes:
    return f"{name} {seq} {int(last)}\n".encode("ascii")


class DbBlobs:
    def __init__(self, engine: AsyncEngine, box: SecretBox, chunk: int = CHUNK) -> None:
        self._engine = engine
        self._box = box
        self._chunk = chunk

    def _seal(self, name: str, data: memoryview, seq: int, count: int) -> dict[str, object]:
        piece = data[seq * self._chunk : (seq + 1) * self._chunk]
        token = self._box.encrypt(_header(name, seq, seq == count - 1) + piece)
        return {"blob": name, "seq": seq, "data": base64.urlsafe_b64decode(token), "created_at": _now()}

    def _seal_batch(self, name: str, data: memoryview, first: int, count: int) -> list[dict[str, object]]:
        return [self._seal(name, data, seq, count) for seq in range(first, min(first + BATCH, count))]

    async def put(self, data: bytes, conn: AsyncConnection | None = None) -> str:
        """Write the bytes; returns the blob's name. In `conn`'s transaction when given (the blob
        then commits or rolls back with the rows that point at it; on SQLite a write from another
        connection would break that transaction's snapshot). Otherwise each batch commits on its own
        (SQLite's one write lock is never held while encrypting); a blob cut off by a crash is
        referenced by nothing and goes with the orphan sweep."""
        name = PREFIX + secrets.token_hex(16)
        view = memoryview(data)
        count = max(1, -(-len(data) // self._chunk))
        for first in range(0, count, BATCH):
            rows = await asyncio.to_thread(self._seal_batch, name, view, first, count)
            if conn is not None:
                await conn.execute(blob_chunks.insert(), rows)
                continue
            async with self._engine.begin() as own:
                await own.execute(blob_chunks.insert(), rows)
        return name

    def _open(self, name: str, seq: int, raw: bytes) -> tuple[bytes, bool]:
        plain = self._box.decrypt(base64.urlsafe_b64encode(raw))
        header, sep, body = plain.partition(b"\n")
        if not sep or header not in (_header(name, seq, False)[:-1], _header(name, seq, True)[:-1]):
            raise SecretKeyError(f"blob {name}: chunk {seq} does not belong here (tampered with?)")
        return body, header.endswith(b" 1")

    async def chunks(self, name: str) -> AsyncIterator[bytes]:
        """The plaintext, a chunk at a time. FileNotFoundError when there is no such blob;
        SecretKeyError when a chunk does not decrypt or the blob ends before its last chunk."""
        seq = 0
        while True:
            async with self._engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(blob_chunks.c.seq, blob_chunks.c.data)
                        .where(blob_chunks.c.blob == name, blob_chunks.c.seq >= seq)
                        .order_by(blob_chunks.c.seq)
                        .limit(BATCH)
                    )
                ).all()
            if not rows and seq == 0:
                raise FileNotFoundError(name)
            if not rows or rows[0].seq != seq:
                raise SecretKeyError(f"blob {name}: chunk {seq} is missing")
            for row in rows:
                if row.seq != seq:
                    raise SecretKeyError(f"blob {name}: chunk {seq} is missing")
                body, last = await asyncio.to_thread(self._open, name, seq, bytes(row.data))
                yield body
                if last:
                    return
                seq += 1

    def _rotate_rows(self, rows: Sequence[tuple[int, bytes]]) -> list[tuple[int, bytes, bytes]]:
        out = []
        for seq, raw in rows:
            token = self._box.rotate(base64.urlsafe_b64encode(raw))
            out.append((seq, raw, base64.urlsafe_b64decode(token)))
        return out

    async def rotate(self, name: str) -> int:
        """Re-encrypt the blob's chunks under the first key, a batch per transaction. Returns the
        number of chunks rewritten."""
        seq, done = -1, 0
        while True:
            async with self._engine.connect() as conn:
                found = (
                    await conn.execute(
                        select(blob_chunks.c.seq, blob_chunks.c.data)
                        .where(blob_chunks.c.blob == name, blob_chunks.c.seq > seq)
                        .order_by(blob_chunks.c.seq)
                        .limit(BATCH)
                    )
                ).all()
            if not found:
                return done
            rotated = await asyncio.to_thread(self._rotate_rows, [(r.seq, bytes(r.data)) for r in found])
            async with self._engine.begin() as conn:
                for chunk_seq, old, new in rotated:
                    # Compare-and-set: a blob deleted meanwhile (forget, retention) stays deleted.
                    await conn.execute(
                        blob_chunks.update()
                        .where(
                            blob_chunks.c.blob == name,
                            blob_chunks.c.seq == chunk_seq,
                            blob_chunks.c.data == old,
                        )
                        .values(data=new)
                    )
            seq, done = found[-1].seq, done + len(found)

    async def sweep_orphans(self, older_than: datetime) -> int:
        """Delete blobs no attachment row references, written before `older_than` (younger ones may
        belong to a transaction still open). Returns how many blobs went."""
        referenced = exists().where(attachments.c.blob == blob_chunks.c.blob)
        async with self._engine.connect() as conn:
            names = (
                await conn.scalars(
                    select(blob_chunks.c.blob).where(
                        blob_chunks.c.seq == 0,
                        # rows from before 0015 have no stamp: old enough
                        ~and_(blob_chunks.c.created_at.is_not(None), blob_chunks.c.created_at >= older_than),
                        ~referenced,
                    )
                )
            ).all()
        async with self._engine.begin() as conn:
            await delete_blobs(conn, list(names))
        return len(names)


def _now() -> datetime:
    return datetime.now(UTC)

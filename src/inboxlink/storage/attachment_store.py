"""Where attachment bytes go and come from: the database (`DbBlobs`, the default on PostgreSQL,
INBOXLINK_BLOB_STORE=database) or the data directory (`BlobStore`, the default on SQLite). The
name in `attachments.blob` says which: database blobs start with "db-", file blobs are hex. Blobs
written to files before the switch keep being read from the files (on the host that has them)
until `inboxlink blobs move` copies them into the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.storage.blobs import BlobStore
from inboxlink.storage.db_blobs import DbBlobs, is_db_blob

STORES = ("database", "files")


class AttachmentStore:
    def __init__(self, files: BlobStore, database: DbBlobs, *, in_database: bool) -> None:
        self.files = files
        self.database = database
        self.in_database = in_database

    async def put(self, data: bytes, conn: AsyncConnection | None = None) -> str:
        """`conn`: the transaction the database blob joins (DbBlobs.put); files ignore it."""
        if self.in_database:
            return await self.database.put(data, conn)
        return await asyncio.to_thread(self.files.put, data)

    async def chunks(self, name: str) -> AsyncIterator[bytes]:
        """The plaintext in pieces. A file blob is one token, decrypted whole (in a thread): only
        database blobs are read a chunk at a time."""
        if is_db_blob(name):
            async for piece in self.database.chunks(name):
                yield piece
        else:
            yield await asyncio.to_thread(self.files.get, name)

    async def read(self, name: str) -> bytes:
        return b"".join([piece async for piece in self.chunks(name)])

    async def unlink_files(self, names: Sequence[str]) -> None:
        """File blobs go after the commit: a crash in between leaves files nothing references
        (the orphan sweep's), never a row without bytes."""

        def work() -> None:
            for name in names:
                if not is_db_blob(name):
                    self.files.delete(name)

        if names:
            await asyncio.to_thread(work)

"""Attachment bytes in the database (INBOXLINK_BLOB_STORE=database; the default on PostgreSQL), on
both backends: chunked and encrypted, streamed out byte-exact, tamper-evident, and covered by
forget, retention, export, the orphan sweep and key rotation. Old file blobs keep being served."""

from __future__ import annotations

import base64
import contextlib
import io
import secrets
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from inboxlink.services.crm.forget import forget_address
from inboxlink.services.crm.retention import run_retention_batch
from inboxlink.services.platform import keys
from inboxlink.services.platform.blob_move import Moved, move_file_blobs
from inboxlink.services.platform.blob_sweep import sweep_orphan_blobs
from inboxlink.storage.db_blobs import CHUNK, is_db_blob
from inboxlink.storage.privacy_tables import team_privacy
from inboxlink.storage.secretbox import SecretBox, SecretKeyError
from inboxlink.storage.tables import attachments, emails
from inboxlink.storage.worker_tables import blob_chunks
from tests.support import app as support
from tests.support.app import fresh_postgres_db, postgres_reachable, running_app
from tests.support.privacy import seed_emails

SENDER = "client@prospect.test"


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[support.TestApp]:
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            if reason := postgres_reachable():
                pytest.skip(reason)
            url = stack.enter_context(fresh_postgres_db())
        async with running_app(
            tmp_path / "data", url, worker=False, INBOXLINK_BLOB_STORE="database"
        ) as test_app:
            yield test_app


async def _chunk_count(app: support.TestApp, names: list[str] | None = None) -> int:
    query = select(func.count()).select_from(blob_chunks)
    if names is not None:
        query = query.where(blob_chunks.c.blob.in_(names))
    async with app.rt.engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


async def _contact_id(user: support.TestUser, email: str = SENDER) -> int:
    return int((await user.get("/api/v1/contacts", params={"email": email})).json()["items"][0]["id"])


async def _blobs(app: support.TestApp) -> list[str]:
    async with app.rt.engine.connect() as conn:
        return [
            r.blob
            for r in await conn.execute(select(attachments.c.blob).where(attachments.c.blob.is_not(None)))
        ]


async def _seed(app: support.TestApp, user: support.TestUser, count: int = 3, sender: str = SENDER) -> None:
    await seed_emails(app.rt, user.caller.team_id, sender, count, attachment_every=1)


async def test_a_big_attachment_is_stored_in_chunks_and_downloaded_byte_exact(app):
    user = await app.user("seller@crm.test")
    await _seed(app, user, count=1)
    data = secrets.token_bytes(3 * CHUNK + 1234)  # four chunks, the last one short
    [name] = await _blobs(app)
    big = await app.rt.attachment_store.put(data)
    async with app.rt.engine.begin() as conn:
        await conn.execute(update(attachments).values(blob=big, size=len(data)))
    [file] = (await user.get(f"/api/v1/contacts/{await _contact_id(user)}/attachments")).json()["items"]
    resp = await user.get(f"/api/v1/attachments/{file['id']}")
    assert resp.status_code == 200 and resp.content == data
    assert resp.headers["content-length"] == str(len(data))
    assert is_db_blob(big) and await _chunk_count(app, [big]) == 4
    # Nothing on this host's disk: another host reads the same rows.
    assert not (app.data_dir / "attachments").exists() or not any((app.data_dir / "attachments").rglob("*"))
    async with app.rt.engine.connect() as conn:
        stored = b"".join(bytes(r.data) for r in await conn.execute(select(blob_chunks.c.data)))
    assert data[:64] not in stored and data[-64:] not in stored  # encrypted at rest
    assert name != big


async def test_chunks_moved_or_cut_off_are_refused(app):
    data = secrets.token_bytes(2 * CHUNK + 10)
    name = await app.rt.attachment_store.put(data)
    other = await app.rt.attachment_store.put(secrets.token_bytes(CHUNK))
    assert await app.rt.attachment_store.read(name) == data
    async with app.rt.engine.begin() as conn:
        foreign = await conn.scalar(select(blob_chunks.c.data).where(blob_chunks.c.blob == other))
        await conn.execute(
            update(blob_chunks).where(blob_chunks.c.blob == name, blob_chunks.c.seq == 1).values(data=foreign)
        )
    with pytest.raises(SecretKeyError, match="does not belong here"):
        await app.rt.attachment_store.read(name)
    async with app.rt.engine.begin() as conn:
        await conn.execute(blob_chunks.delete().where(blob_chunks.c.blob == name, blob_chunks.c.seq >= 1))
    with pytest.raises(SecretKeyError, match="missing"):
        await app.rt.attachment_store.read(name)


async def test_blobs_written_to_files_before_the_switch_are_still_served(app):
    user = await app.user("seller@crm.test")
    app.rt.attachment_store.in_database = False  # as before INBOXLINK_BLOB_STORE=database
    await _seed(app, user, count=1)
    app.rt.attachment_store.in_database = True
    [name] = await _blobs(app)
    assert not is_db_blob(name) and app.rt.blobs._path(name).exists()
    [file] = (await user.get(f"/api/v1/contacts/{await _contact_id(user)}/attachments")).json()["items"]
    resp = await user.get(f"/api/v1/attachments/{file['id']}")
    assert resp.status_code == 200 and len(resp.content) == 2048
    # `inboxlink blobs move`: into the database, the file gone, the same bytes served.
    old_file = app.rt.blobs._path(name)
    assert await move_file_blobs(app.rt, report=lambda _line: None) == Moved(moved=1, missing=0)
    [moved] = await _blobs(app)
    assert is_db_blob(moved) and not old_file.exists()
    assert (await user.get(f"/api/v1/attachments/{file['id']}")).content == resp.content


async def test_forget_and_retention_delete_the_chunks_and_export_holds_the_bytes(app):
    user = await app.user("seller@crm.test")
    await _seed(app, user, count=3)
    forgotten_blobs = await _blobs(app)
    await _seed(app, user, count=4, sender="kept@prospect.test")
    kept_blobs = sorted(set(await _blobs(app)) - set(forgotten_blobs))
    assert await _chunk_count(app) == 7
    resp = await user.get(f"/api/v1/contacts/{await _contact_id(user, 'kept@prospect.test')}/export")
    archive = zipfile.ZipFile(io.BytesIO(resp.content))
    assert len([n for n in archive.namelist() if n.startswith("attachments/")]) == 4
    assert all(len(archive.read(n)) == 2048 for n in archive.namelist() if n.startswith("attachments/"))

    result = await forget_address(app.rt, user.caller.team_id, SENDER, "test")
    assert result is not None and result.blobs_deleted == 3
    assert await _chunk_count(app, forgotten_blobs) == 0 and await _chunk_count(app, kept_blobs) == 4

    old = datetime.now(UTC) - timedelta(days=40)
    async with app.rt.engine.begin() as conn:
        doomed = [r.id for r in await conn.execute(select(emails.c.id).order_by(emails.c.id).limit(2))]
        await conn.execute(update(emails).where(emails.c.id.in_(doomed)).values(sent_at=old, created_at=old))
        await conn.execute(
            team_privacy.insert().values(
                team_id=user.caller.team_id,
                internal_domains=[],
                retention_days=30,
                updated_at=datetime.now(UTC),
            )
        )
    assert await run_retention_batch(app.rt, user.caller.team_id) == 2
    assert await _chunk_count(app) == 2 and set(await _blobs(app)) < set(kept_blobs)


async def test_orphaned_database_blobs_are_swept_after_an_hour(app):
    user = await app.user("seller@crm.test")
    await _seed(app, user, count=1)
    [referenced] = await _blobs(app)
    old_orphan = await app.rt.attachment_store.put(b"rolled back" * 30_000)  # two chunks
    young_orphan = await app.rt.attachment_store.put(b"transaction still open")
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    async with app.rt.engine.begin() as conn:
        await conn.execute(
            update(blob_chunks).where(blob_chunks.c.blob != young_orphan).values(created_at=two_hours_ago)
        )
    assert await sweep_orphan_blobs(app.rt) == 1
    assert await _chunk_count(app, [old_orphan]) == 0
    assert await _chunk_count(app, [young_orphan]) == 1 and await _chunk_count(app, [referenced]) == 1


async def test_key_rotation_re_encrypts_every_chunk(app):
    user = await app.user("seller@crm.test")
    await keys.check_key(app.rt)
    old_key = app.rt.box.keys[0]
    await _seed(app, user, count=2)
    big = await app.rt.attachment_store.put(b"z" * (CHUNK + 5))
    async with app.rt.engine.begin() as conn:
        first = await conn.scalar(select(attachments.c.id).order_by(attachments.c.id).limit(1))
        await conn.execute(update(attachments).where(attachments.c.id == first).values(blob=big))
    assert await keys.begin_rotation(app.rt) is not None
    await keys.run_rotation(app.rt, batch=1, grace=0)
    assert app.rt.box.keys[0] != old_key and len(app.rt.box.keys) == 1
    only_old, only_new = SecretBox([old_key]), SecretBox([app.rt.box.keys[0]])
    names = await _blobs(app)
    async with app.rt.engine.connect() as conn:
        rows: list[Any] = (
            await conn.execute(select(blob_chunks.c.data).where(blob_chunks.c.blob.in_(names)))
        ).all()
    assert len(rows) == 3
    for row in rows:
        token = base64.urlsafe_b64encode(bytes(row.data))
        with pytest.raises(SecretKeyError):
            only_old.decrypt(token)
        only_new.decrypt(token)
    assert await app.rt.attachment_store.read(big) == b"z" * (CHUNK + 5)

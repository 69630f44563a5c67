"""Privacy operations at scale: one contact with N logged emails (default 10,000; every 10th with a
2 KiB attachment), on SQLite (default) or PostgreSQL (--pg).

    .venv/bin/python bench/privacy.py [--emails 10000] [--pg]

Printed, each with what it is compared to in the same run:
  - export: GET /api/v1/contacts/{id}/export streamed to the end (ASGI, in-process), versus reading
    and decrypting the same bodies and blobs with plain SELECTs (the floor: no JSON, no ZIP);
  - rotation: `keys.run_rotation` of everything (bodies, blobs, credentials), versus the bare
    MultiFernet.rotate of the same tokens in memory;
  - forget: DELETE /api/v1/contacts/{id}?forget=true (emails, blobs, audit, WAL checkpoint), versus
    the time it took to log those emails (store_email in batches of 200).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from inboxlink.services.accounts.users import create_token, create_user
from inboxlink.services.crm.timeline import unseal
from inboxlink.services.platform import keys
from inboxlink.storage.db_blobs import is_db_blob
from inboxlink.storage.tables import attachments, contacts, emails
from inboxlink.storage.worker_tables import blob_chunks
from tests.support.app import fresh_postgres_db, running_app
from tests.support.privacy import seed_emails

CLIENT = "bench-client@prospect.test"


async def bench(count: int, pg: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_db()) if pg else None
        async with running_app(Path(tmp) / "data", url, worker=False) as app:
            rt = app.rt
            caller = await create_user(rt, "boss@crm.test", "correct horse battery", admin=True)
            token = await create_token(rt, "boss@crm.test")
            auth = {"Authorization": f"Bearer {token}"}
            await keys.check_key(rt)
            started = time.perf_counter()
            await seed_emails(rt, caller.team_id, CLIENT, count, attachment_every=10)
            seeded = time.perf_counter() - started
            async with rt.engine.connect() as conn:
                contact_id = await conn.scalar(select(contacts.c.id).where(contacts.c.email == CLIENT))
            print(
                f"backend: {'postgresql' if pg else 'sqlite'}; {count:,} emails, {count // 10:,} attachments"
            )
            print(f"seed (store_email, 200 per transaction): {seeded:.2f} s")

            started = time.perf_counter()
            async with rt.engine.connect() as conn:
                rows = (await conn.execute(select(emails.c.text, emails.c.html))).all()
                blobs = (await conn.execute(select(attachments.c.blob))).scalars().all()
            for r in rows:
                unseal(rt, r.text), unseal(rt, r.html)
            for b in blobs:
                await rt.attachment_store.read(b)
            floor = time.perf_counter() - started
            started = time.perf_counter()
            size = 0
            async with app.client.stream(
                "GET", f"/api/v1/contacts/{contact_id}/export", headers=auth
            ) as resp:
                assert resp.status_code == 200, resp.status_code
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
            exported = time.perf_counter() - started
            print(
                f"export ZIP: {exported:.2f} s, {size / 1e6:.1f} MB; raw read+decrypt of the same: {floor:.2f} s; ratio {exported / floor:.1f}x"
            )

            tokens = [r.text[len("fernet:") :].encode() for r in rows] + [
                r.html[len("fernet:") :].encode() for r in rows
            ]
            tokens += [rt.blobs._path(b).read_bytes() for b in blobs if not is_db_blob(b)]
            async with rt.engine.connect() as conn:  # database blobs (the default on PostgreSQL)
                chunks = (await conn.execute(select(blob_chunks.c.data))).scalars().all()
            tokens += [base64.urlsafe_b64encode(bytes(c)) for c in chunks]
            from cryptography.fernet import Fernet, MultiFernet

            spare = MultiFernet([Fernet(Fernet.generate_key()), Fernet(rt.box.keys[0].encode())])
            started = time.perf_counter()
            for t in tokens:
                spare.rotate(t)
            bare = time.perf_counter() - started
            started = time.perf_counter()
            generation = await keys.begin_rotation(rt)
            assert generation is not None
            await keys.run_rotation(rt, batch=200, grace=0.0)
            rotated = time.perf_counter() - started
            print(
                f"key rotation (all of it, batches of 200): {rotated:.2f} s; bare MultiFernet.rotate of the same {len(tokens):,} tokens: {bare:.2f} s; ratio {rotated / bare:.1f}x"
            )

            started = time.perf_counter()
            resp = await app.client.delete(f"/api/v1/contacts/{contact_id}?forget=true", headers=auth)
            forgot = time.perf_counter() - started
            assert resp.status_code == 204, resp.text
            async with rt.engine.connect() as conn:
                left = await conn.scalar(select(emails.c.id).limit(1))
            assert left is None
            print(
                f"forget (DELETE ?forget=true): {forgot:.2f} s; logging them took {seeded:.2f} s; ratio {forgot / seeded:.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--pg", action="store_true")
    args = parser.parse_args()
    asyncio.run(bench(args.emails, args.pg))


if __name__ == "__main__":
    main()

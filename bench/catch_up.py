"""Catch-up after an outage: an inbox offline while 100,000 untracked messages and 20 replies arrived.

    .venv/bin/python bench/catch_up.py [--messages 100000] [--replies 20]

Starts its own Dovecot (tests/peers) and one user; inboxlink (Runtime on SQLite + the Supervisor,
as `inboxlink worker` runs them) follows the inbox over TLS with 20 tracked ids (CRM emails it sent)
until its first pass has stored the cursor, then stops. While it is offline, the messages are written
straight into the maildir (faster than LMTP; the 20 replies, each answering one tracked id, spread
among them). Dovecot indexes them with one untimed raw fetch. Then, in the same run:

- inboxlink: Supervisor started → all 20 replies logged (committed rows), i.e. the whole pipeline:
  connect, login, SELECT, header FETCH of everything new, id extraction, lookup, full fetch + parse
  + log of the 20, cursor writes;
- raw: a bare asyncio TLS socket, LOGIN, EXAMINE, the same `UID FETCH n:* (UID FLAGS
  BODY.PEEK[HEADER.FIELDS (...)])`, read to the tagged OK without parsing: the floor.

Prints both times, messages/s and raw/inboxlink (goal ≥ 0.6). Always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from sqlalchemy import func, insert, select  # noqa: E402

from bench.harness import insert_inboxes, sent_email_row  # noqa: E402
from inboxlink.config import load_settings  # noqa: E402
from inboxlink.domain.tracking import TEAM  # noqa: E402
from inboxlink.services.platform.runtime import Runtime, now  # noqa: E402
from inboxlink.storage.db import migrate  # noqa: E402
from inboxlink.storage.tables import emails, folder_cursors, threads, tracked_ids  # noqa: E402
from inboxlink.sync.folder_scan import MATCH_FIELDS  # noqa: E402
from inboxlink.sync.supervisor import Supervisor  # noqa: E402
from tests.peers.dovecot import MAIL_GID, MAIL_UID, MailServer, start_mail_server  # noqa: E402

GOAL = 0.6
USER, PASSWORD = "catchup@example.test", "catchup-password"


def fill(server: MailServer, count: int, replies: list[str]) -> None:
    """`count` untracked messages and one reply per tracked id, evenly spread, into cur/."""
    maildir = server.directory / "mail" / "example.test" / "catchup" / "Maildir"
    every = max(1, count // max(1, len(replies)))
    stamp = int(time.time()) - count
    pending = list(replies)
    for i in range(count + len(replies)):
        if pending and i % (every + 1) == every:
            parent = pending.pop()
            head = f"From: Client <client@prospect.test>\nMessage-ID: <reply-{i}@prospect.test>\nIn-Reply-To: <{parent}>\nReferences: <{parent}>\nSubject: Re: Our offer\n"
        else:
            head = f"From: News {i % 97} <news{i % 97}@lists.example>\nMessage-ID: <bulk-{i}@lists.example>\nSubject: Newsletter {i}\n"
        text = (
            head
            + f"To: {USER}\nDate: Mon, 04 Mar 2024 10:00:00 +0000\nContent-Type: text/plain\n\nbody {i}\n"
        ).encode()
        vsize = len(text) + text.count(b"\n")
        name = f"{stamp + i}.M{i}P{os.getpid()}.bench,S={len(text)},W={vsize}:2,"
        (maildir / "cur" / name).write_bytes(text)
    for path in [maildir, *maildir.iterdir()]:
        os.chown(path, MAIL_UID, MAIL_GID)
    for path in (maildir / "cur").iterdir():
        os.chown(path, MAIL_UID, MAIL_GID)


async def raw_fetch(port: int, first_uid: int) -> tuple[float, int]:
    context = ssl.create_default_context()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost", limit=1 << 22
    )

    async def until(prefix: bytes) -> None:
        while not (line := await reader.readline()).startswith(prefix):
            if not line:
                raise ConnectionError("closed")

    await until(b"* OK")
    writer.write(f'a1 LOGIN "{USER}" "{PASSWORD}"\r\n'.encode())
    await until(b"a1 OK")
    writer.write(b"a2 EXAMINE INBOX\r\n")
    await until(b"a2 OK")
    started = time.perf_counter()
    fields = " ".join(MATCH_FIELDS)
    writer.write(f"a3 UID FETCH {first_uid}:* (UID FLAGS BODY.PEEK[HEADER.FIELDS ({fields})])\r\n".encode())
    total, tail = 0, b""
    while not (tail.endswith(b"\r\n") and b"\na3 " in tail[-200:]):
        chunk = await reader.read(1 << 18)
        if not chunk:
            raise ConnectionError("closed")
        total += len(chunk)
        tail = (tail + chunk)[-400:]
    took = time.perf_counter() - started
    writer.close()
    return took, total


async def run(server: MailServer, data_dir: Path, count: int, replies: int) -> None:
    settings = load_settings({"INBOXLINK_DATA_DIR": str(data_dir), "INBOXLINK_ALLOW_PRIVATE_HOSTS": "1"})
    await asyncio.to_thread(migrate, settings.database_url)
    rt = Runtime.create(settings)
    team, [inbox_id] = await insert_inboxes(rt, server.imaps_port, [(USER, PASSWORD)])
    tracked = [f"crm-{i}-{secrets.token_hex(3)}@inboxlink.test" for i in range(replies)]  # stored without <>
    async with rt.engine.begin() as conn:
        thread = (
            await conn.execute(insert(threads).values(team_id=team, created_at=now()))
        ).inserted_primary_key[0]
        for mid in tracked:
            email = await conn.execute(
                insert(emails).values(
                    **sent_email_row(
                        team, thread, mid, inbox_id=inbox_id, to_addrs=[{"email": "client@prospect.test"}]
                    )
                )
            )
            await conn.execute(
                insert(tracked_ids).values(
                    team_id=team, message_id=mid, scope=TEAM, email_id=email.inserted_primary_key[0]
                )
            )

    async def inbound() -> int:
        async with rt.engine.connect() as conn:
            return int(
                await conn.scalar(
                    select(func.count()).select_from(emails).where(emails.c.direction == "inbound")
                )
                or 0
            )

    async def cursor() -> int | None:
        async with rt.engine.connect() as conn:
            return await conn.scalar(
                select(folder_cursors.c.last_uid).where(folder_cursors.c.inbox_id == inbox_id)
            )

    supervisor = Supervisor(rt)
    task = asyncio.create_task(supervisor.run())
    while await cursor() is None:
        await asyncio.sleep(0.1)
    supervisor.stop()
    await task
    first_uid = (await cursor() or 0) + 1
    print(f"  inbox followed once (cursor stored), then offline; writing {count:,} + {replies} messages")
    started = time.monotonic()
    await asyncio.to_thread(fill, server, count, tracked)
    print(f"  maildir written in {time.monotonic() - started:.0f} s; indexing (one untimed raw fetch)")
    warm, size = await raw_fetch(server.imaps_port, first_uid)
    print(f"  cold raw fetch {warm:.2f} s, {size / 1e6:.1f} MB of header responses")

    supervisor = Supervisor(rt)
    started = time.perf_counter()
    task = asyncio.create_task(supervisor.run())
    deadline = time.monotonic() + float(os.environ.get("CATCH_UP_TIMEOUT", "600"))
    while (logged := await inbound()) < replies:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"only {logged} of {replies} replies logged within 600 s; cursor at {await cursor()}"
            )
        await asyncio.sleep(0.02)
    ours = time.perf_counter() - started
    supervisor.stop()
    await task
    await rt.close()
    raw, _ = await raw_fetch(server.imaps_port, first_uid)
    total = count + replies
    print(f"inboxlink: reconnect → all {replies} replies logged: {ours:.2f} s ({total / ours:,.0f} msgs/s)")
    print(f"raw socket: the same header FETCH, unparsed: {raw:.2f} s ({total / raw:,.0f} msgs/s)")
    print(f"ratio raw / inboxlink: {raw / ours:.2f} (goal ≥ {GOAL})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--replies", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="catch-up-") as tmp:
        server = start_mail_server(Path(tmp) / "dovecot")
        try:
            server.add_user(USER, PASSWORD)
            bundle = Path(tmp) / "ca.pem"
            bundle.write_bytes(Path(server.ca_file).read_bytes())
            os.environ["SSL_CERT_FILE"] = str(bundle)
            asyncio.run(run(server, Path(tmp) / "data", args.messages, args.replies))
        except Exception as exc:  # a benchmark reports and exits 0
            print(f"benchmark aborted: {exc!r}\n{server.log_tail(20)}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()

"""The installation key: a process whose key is not the installation's refuses to start (hosts
with separate data directories, as on separate machines), and `inboxlink keys rotate` re-encrypts
everything while the app keeps logging replies, resuming after a kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select

from inboxlink.services.crm.search import search_emails
from inboxlink.services.mail import drafts, signatures
from inboxlink.services.platform.keys import check_key
from inboxlink.storage import composer_tables
from inboxlink.storage.search_tables import email_search_state
from inboxlink.storage.secretbox import SecretBox
from inboxlink.storage.tables import attachments, emails, inboxes
from tests.integration.conftest import CLIENT
from tests.support.app import wait_for
from tests.support.privacy import seed_emails
from tests.support.replies import make_reply


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inboxlink.cli", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_a_host_with_another_key_refuses_to_start_and_says_what_to_do(app, tmp_path):
    await check_key(app.rt)  # host A started: its key's fingerprint is the installation's
    shared_db = {
        "INBOXLINK_DATABASE_URL": f"sqlite:///{app.data_dir / 'inboxlink.db'}",
        "INBOXLINK_BCC_SMTP": "off",
    }
    host_b = {**shared_db, "INBOXLINK_DATA_DIR": str(tmp_path / "host-b"), "INBOXLINK_HTTP": "127.0.0.1:1"}
    refused = cli(host_b, "worker")
    assert refused.returncode == 2, refused.stderr
    assert "Set INBOXLINK_SECRET_KEY to the installation's key as on the first host" in refused.stderr
    assert "Traceback" not in refused.stderr
    key = (app.data_dir / "secret.key").read_text().strip()
    ok = cli({**host_b, "INBOXLINK_SECRET_KEY": key}, "keys", "status")
    assert ok.returncode == 0, ok.stderr
    assert "current, held by this process" in ok.stdout


async def _id_of(app: Any, message_id: str) -> int:
    async with app.rt.engine.connect() as conn:
        return int(await conn.scalar(select(emails.c.id).where(emails.c.message_id == message_id)))


async def test_rotation_under_load_loses_nothing_and_resumes_after_kill_9(
    app, conversation, mail_server, mail_user
):
    user, inbox, sent = conversation
    chris = sent["contact_ids"][0]
    await check_key(app.rt)
    await seed_emails(app.rt, user.caller.team_id, CLIENT, 600, attachment_every=5)
    # What a person writes is sealed too (issue 14 item 6): a signature and a draft.
    await signatures.set_signature(app.rt, user.caller, "Sam Seller")
    await drafts.save_draft(app.rt, user.caller, chris, "new", {"text": "draft under the old key"})
    old_key = (app.data_dir / "secret.key").read_text().strip()
    env = {"INBOXLINK_DATA_DIR": str(app.data_dir), "INBOXLINK_BCC_SMTP": "off"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inboxlink.cli", "keys", "rotate", "--batch", "5"],
        env={**os.environ, **env}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    replies: list[str] = []
    seen: list[str] = []
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(proc.stderr.readline)  # the app keeps running meanwhile
        seen.append(line)
        if not line and proc.poll() is not None:
            raise AssertionError("".join(seen))
        if "emails.text:" in line and int(line.split(":")[1].split()[0].replace(",", "")) >= 100:
            break
        if len(replies) < 3 and "emails.text" in line:
            mid, raw = make_reply(
                sender=CLIENT,
                to=mail_user.email,
                subject="Re: Our offer",
                text=f"during {len(replies)}",
                in_reply_to=sent["message_id"],
            )
            mail_server.deliver(mail_user.email, raw)
            replies.append(mid)
    os.kill(proc.pid, signal.SIGKILL)  # mid-rotation
    proc.wait()
    status = await asyncio.to_thread(cli, env, "keys", "status")
    assert "in progress" in status.stdout, status.stdout
    for i in range(3):
        mid, raw = make_reply(
            sender=CLIENT,
            to=mail_user.email,
            subject="Re: Our offer",
            text=f"between {i}",
            in_reply_to=sent["message_id"],
        )
        mail_server.deliver(mail_user.email, raw)
        replies.append(mid)
    resumed = await asyncio.to_thread(cli, env, "keys", "rotate", "--batch", "50")
    assert resumed.returncode == 0, resumed.stderr
    assert "rotation finished" in resumed.stderr
    new_key = (app.data_dir / "secret.key").read_text().strip()
    assert "," not in new_key and new_key != old_key

    # Everything stored decrypts with the new key alone, the replies logged meanwhile included.
    async def all_logged() -> bool:
        async with app.rt.engine.connect() as conn:
            rows = await conn.execute(select(emails.c.message_id).where(emails.c.message_id.in_(replies)))
            return len(rows.all()) == len(replies)

    await wait_for(all_logged, timeout=60)
    for mid in replies:  # readable through the API, whichever key wrote them
        email = (await user.get(f"/api/v1/emails/{await _id_of(app, mid)}")).json()
        assert email["text"].strip().startswith(("during", "between"))
    only_new = SecretBox([new_key])
    async with app.rt.engine.connect() as conn:
        bodies = (await conn.execute(select(emails.c.text))).scalars().all()
        secret = (
            await conn.execute(select(inboxes.c.secret).where(inboxes.c.id == inbox["id"]))
        ).scalar_one()
        blobs = (await conn.execute(select(attachments.c.blob))).scalars().all()
    assert len(bodies) >= 600 + len(replies)
    for body in bodies:
        only_new.decrypt(body[len("fernet:") :].encode())
    only_new.decrypt(bytes(secret))
    assert len(blobs) >= 120
    for name in blobs:
        only_new.decrypt(app.rt.blobs._path(name).read_bytes())
    async with app.rt.engine.connect() as conn:
        written = [
            (await conn.execute(select(composer_tables.signatures.c.text))).scalar_one(),
            (await conn.execute(select(composer_tables.drafts.c.body))).scalar_one(),
        ]
    assert [only_new.decrypt(w[len("fernet:") :].encode()).decode()[:10] for w in written] == [
        "Sam Seller",
        '{"to": "",',
    ]
    # The search index was re-hashed under the new key: every email once, found with the new key alone.
    async with app.rt.engine.connect() as conn:
        indexed = (await conn.execute(select(email_search_state.c.key_id))).scalars().all()
    assert len(indexed) == len(bodies) and set(indexed) == {only_new.fingerprints()[0][:16]}
    app.rt.box.use_keys([new_key])
    found = await search_emails(app.rt, user.caller.team_id, "between", limit=10)
    assert len(found) == 3 and all(e["snippet"].startswith("between") for e in found), found
    # The running app switched keys by itself and keeps logging (and reading) replies.
    last, raw = make_reply(
        sender=CLIENT,
        to=mail_user.email,
        subject="Re: Our offer",
        text="after",
        in_reply_to=sent["message_id"],
    )
    mail_server.deliver(mail_user.email, raw)
    replies = [last]
    await wait_for(all_logged, timeout=30)
    assert "after" in (await user.get(f"/api/v1/emails/{await _id_of(app, last)}")).json()["text"]
    assert chris in (await user.get(f"/api/v1/emails/{await _id_of(app, last)}")).json()["contact_ids"]
    assert "held by this process" in cli(env, "keys", "status").stdout
    assert Fernet
    assert Path(app.data_dir / "secret.key").stat().st_mode & 0o077 == 0

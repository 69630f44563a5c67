"""What the benchmarks share: preparing the machine (the inotify limit Dovecot's IDLE push needs)
and setting up N monitored conversations through the API."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.peers.dovecot import MAIL_UID, MailServer, start_mail_server
from tests.peers.provider_smtp import ProviderSmtp, start_provider_smtp
from tests.support.app import TestApp, TestUser
from tests.support.mail import inbox_body
from tests.support.replies import make_reply

INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")
RAISED_LIMIT = 1024


@dataclass
class Conversation:
    index: int
    inbox_id: int
    mailbox: str
    client: str
    sent_id: int = 0
    message_id: str = ""
    thread_id: int = 0
    contact_id: int = 0
    reply_id: str = ""
    delivered: float = 0.0  # time.monotonic() when LMTP answered DATA
    logged: float | None = None  # the timeline event (committed) arrived
    visible: float | None = None  # GET .../emails listed the reply
    via_event: bool = False
    event: asyncio.Event = field(default_factory=asyncio.Event)


# ---- the machine -------------------------------------------------------------------------------


def inotify_in_use(uid: int) -> int:
    """inotify instances held by processes running as `uid` (they count against its limit)."""
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            euid = next(line.split()[2] for line in status.splitlines() if line.startswith("Uid:"))
            if int(euid) != uid:
                continue
            count += sum(1 for fd in (proc / "fd").iterdir() if os.readlink(fd) == "anon_inode:inotify")
        except (OSError, StopIteration, ValueError):
            continue  # the process ended meanwhile, or is not ours to read
    return count


def check_inotify(needed: int, may_raise: bool) -> None:
    try:
        limit = int(INOTIFY_LIMIT.read_text())
    except (OSError, ValueError):
        print("inotify: cannot read fs.inotify.max_user_instances; IDLE pushes may fall back to 30 s polls")
        return
    in_use = inotify_in_use(MAIL_UID)
    print(
        f"inotify: fs.inotify.max_user_instances = {limit}; uid {MAIL_UID} (Dovecot's mail processes) "
        f"holds {in_use} now; this run needs about {needed} more"
    )
    short = in_use + needed > limit
    if short and may_raise and os.geteuid() == 0:
        done = _raise_inotify_limit()
        after = int(INOTIFY_LIMIT.read_text())
        print(
            f"inotify: ran `sysctl -w fs.inotify.max_user_instances={RAISED_LIMIT}` as root: {done}; now {after}"
        )
        limit = after
    elif not short:
        print("inotify: enough headroom, left unchanged")
    else:
        print("inotify: left unchanged (" + ("--no-sysctl" if not may_raise else "not root") + ")")
    if in_use + needed > limit:
        print(
            f"WARNING: {in_use} + {needed} > {limit}: Dovecot will poll every 30 s instead of pushing "
            f"for the sessions beyond the limit; run as root or `sysctl -w fs.inotify.max_user_instances="
            f"{RAISED_LIMIT}` first"
        )


def _raise_inotify_limit() -> str:
    sysctl = shutil.which("sysctl")
    try:
        if sysctl:
            proc = subprocess.run(
                [sysctl, "-w", f"fs.inotify.max_user_instances={RAISED_LIMIT}"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            if proc.returncode == 0:
                return "ok"
            return f"failed ({(proc.stderr or proc.stdout).strip()})"
        INOTIFY_LIMIT.write_text(f"{RAISED_LIMIT}\n")
        return "ok (no sysctl binary: wrote /proc/sys directly)"
    except OSError as exc:
        return f"failed ({exc})"


# ---- the peers ----------------------------------------------------------------------------------


def with_peers(prefix: str, body: Callable[[MailServer, ProviderSmtp, Path], Awaitable[None]]) -> None:
    """Start Dovecot and the provider SMTP in a fresh temp dir, run `body(server, provider, data_dir)`
    with SSL_CERT_FILE trusting them, then stop both. A failure is reported, not raised: a
    benchmark exits 0."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    started = time.monotonic()
    server = start_mail_server(base / "dovecot")
    provider: ProviderSmtp | None = None
    try:
        provider = start_provider_smtp(server)
        os.environ["SSL_CERT_FILE"] = server.ca_file  # inboxlink verifies the peers' certificate
        asyncio.run(body(server, provider, base / "data"))
    except Exception as exc:  # a benchmark reports and exits 0
        print(f"\nbenchmark aborted: {exc!r}\n{server.log_tail(20)}")
    finally:
        if provider is not None:
            provider.stop()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\ntotal run time {time.monotonic() - started:.0f} s")


# ---- inboxes straight into the database ----------------------------------------------------------


async def insert_inboxes(
    rt: Any, port: int, accounts: list[tuple[str, str]], sent_folder: str | None = None
) -> tuple[int, list[int]]:
    """A team, its owner and one connected TLS inbox per (address, password) on localhost:`port`,
    written directly (no connect probe): (team id, inbox ids). For benchmarks of the monitors."""
    from sqlalchemy import insert

    from inboxlink.services.platform.runtime import now
    from inboxlink.storage.tables import inboxes, teams, users

    async with rt.engine.begin() as conn:
        team = (
            await conn.execute(insert(teams).values(name="bench", created_at=now()))
        ).inserted_primary_key[0]
        owner = await conn.execute(
            insert(users).values(
                team_id=team,
                email="owner@bench.test",
                password_hash="x",
                bcc_token=secrets.token_hex(16),
                created_at=now(),
            )
        )
        rows = [
            {
                "team_id": team,
                "user_id": owner.inserted_primary_key[0],
                "email": address,
                "username": address,
                "secret": rt.box.encrypt(json.dumps({"password": password}).encode()),
                "imap_host": "localhost",
                "imap_port": port,
                "imap_security": "tls",
                "smtp_host": "localhost",
                "smtp_port": 25,
                "smtp_security": "none",
                "status": "connected",
                "sent_folder": sent_folder,
                "created_at": now(),
            }
            for address, password in accounts
        ]
        ids = [(await conn.execute(insert(inboxes).values(**row))).inserted_primary_key[0] for row in rows]
    return int(team), [int(i) for i in ids]


def sent_email_row(team_id: int, thread_id: int, message_id: str, **extra: Any) -> dict[str, Any]:
    """The columns of a CRM email already sent (for benchmarks that write the database directly)."""
    from inboxlink.services.platform.runtime import now

    return {
        "team_id": team_id, "thread_id": thread_id, "message_id": message_id, "dedupe_key": message_id,
        "direction": "outbound", "status": "sent", "to_addrs": [], "cc_addrs": [], "bcc_addrs": [],
        "references": [], "problems": [], "source": "crm", "created_at": now(), **extra,
    }  # fmt: skip


# ---- the CRM side -------------------------------------------------------------------------------


async def gather_limited(limit: int, jobs: list[Callable[[], Awaitable[None]]]) -> None:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(run(job) for job in jobs))


async def set_up_conversations(
    app: TestApp, user: TestUser, server: MailServer, provider: ProviderSmtp, count: int
) -> list[Conversation]:
    """N Dovecot users, N inboxes connected through the API, one CRM email sent from each."""
    tag = secrets.token_hex(3)
    accounts = [(f"rl{i}-{tag}@example.test", secrets.token_urlsafe(12)) for i in range(count)]
    started = time.monotonic()
    await asyncio.gather(*(asyncio.to_thread(server.add_user, a, p) for a, p in accounts))
    print(f"  {count} Dovecot users with Sent/Drafts/Trash: {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    convs: list[Conversation | None] = [None] * count

    def connect(i: int) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            address, password = accounts[i]
            account = type("Account", (), {"email": address, "password": password})()
            resp = await user.post("/api/v1/inboxes", inbox_body(server, provider, account))
            if resp.status_code != 201:
                raise RuntimeError(f"connecting {address} failed: {resp.status_code} {resp.text}")
            convs[i] = Conversation(i, resp.json()["id"], address, f"client{i}-{tag}@prospect.test")

        return job

    await gather_limited(8, [connect(i) for i in range(count)])
    ready = [c for c in convs if c is not None]
    print(f"  {count} inboxes connected through the API: {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    for conv in ready:
        resp = await user.post(
            "/api/v1/emails",
            {
                "inbox_id": conv.inbox_id,
                "to": [{"email": conv.client, "name": f"Client {conv.index}"}],
                "subject": f"Our offer #{conv.index}",
                "text": "Hi, here is our offer.",
            },
        )
        if resp.status_code != 202:
            raise RuntimeError(f"sending from {conv.mailbox} failed: {resp.status_code} {resp.text}")
        body = resp.json()
        conv.sent_id, conv.message_id, conv.thread_id = body["id"], body["message_id"], body["thread_id"]
        conv.contact_id = body["contact_ids"][0]
    pending = {c.sent_id: c for c in ready}
    deadline = time.monotonic() + 30 + count
    while pending:
        for sent_id in list(pending):
            status = (await user.get(f"/api/v1/emails/{sent_id}")).json()["status"]
            if status == "failed":
                raise RuntimeError(f"send {sent_id} failed")
            if status == "sent":
                del pending[sent_id]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} CRM emails still not sent")
        await asyncio.sleep(0.25)
    print(
        f"  {count} CRM emails sent by the send worker (SMTP + APPEND to Sent): {time.monotonic() - started:.1f} s"
    )

    started = time.monotonic()
    deadline = started + 60
    while not all((m := app.monitor(c.inbox_id)) is not None and m.connected.is_set() for c in ready):
        if time.monotonic() > deadline:
            raise RuntimeError("monitors not connected within 60 s")
        await asyncio.sleep(0.1)
    # `connected` is set before a monitor's first pass: give every one time to reach IDLE.
    await asyncio.sleep(3)
    print(f"  all {count} monitors connected: {time.monotonic() - started:.1f} s (+3 s to settle into IDLE)")
    return ready


# ---- waiting and replying ---------------------------------------------------------------------


async def until(
    check: Callable[[], Awaitable[bool]], interval: float, what: str, timeout: float = 90.0
) -> float:
    """time.monotonic() of the first check that passed."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(interval)


def seconds_until(iso: str | None) -> float:
    """Seconds from now to an ISO timestamp (UTC when naive), 0 when there is none."""
    if not iso:
        return 0.0
    stamp = datetime.fromisoformat(iso)
    stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return (stamp - datetime.now(UTC)).total_seconds()


def reply(mailbox: str, client: str, message_id: str, text: str) -> tuple[str, bytes]:
    return make_reply(
        sender=f"Client <{client}>",
        to=mailbox,
        subject="Re: Our offer",
        text=text,
        in_reply_to=message_id,
        references=[message_id],
    )

"""Real `inboxlink worker` processes on one PostgreSQL, for the scale-out tests and bench/workers.py:
each process has its own environment and data directory (as on separate hosts; they share only the
database and INBOXLINK_SECRET_KEY), and the database is read directly to see who holds which inbox
and which replies were logged."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, insert, select

from inboxlink.domain.tracking import TEAM
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.tables import emails, folder_cursors, inbox_leases, threads, tracked_ids
from inboxlink.storage.worker_tables import workers
from tests.peers.net import free_ports
from tests.support.replies import make_reply

ROOT = Path(__file__).resolve().parents[2]


def fleet_env(database_url: str, ca_file: str, lease_ttl: float, **extra: str) -> dict[str, str]:
    """What every worker of one installation shares: the database, the key, the trust, the TTL."""
    return {
        "INBOXLINK_DATABASE_URL": database_url,
        "INBOXLINK_SECRET_KEY": Fernet.generate_key().decode(),
        "INBOXLINK_LEASE_TTL": str(lease_ttl),
        "INBOXLINK_ALLOW_PRIVATE_HOSTS": "1",
        "INBOXLINK_BCC_SMTP": "off",
        "SSL_CERT_FILE": ca_file,
        **extra,
    }


class WorkerProcess:
    """One `inboxlink worker` OS process with its own data directory and log file."""

    def __init__(self, name: str, base: Path, shared: dict[str, str]) -> None:
        self.name = name
        self.log = base / f"{name}.log"
        [self.metrics_port] = free_ports(1)
        self.env = {
            **os.environ,
            **shared,
            "INBOXLINK_DATA_DIR": str(base / name),
            "INBOXLINK_METRICS_HTTP": f"127.0.0.1:{self.metrics_port}",
            "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "inboxlink.cli", "worker"], env=self.env, stdout=log, stderr=log
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, within: float = 15) -> int | None:
        """SIGCONT (it may be stopped), SIGTERM, then SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=within)

    def metrics(self) -> dict[str, float]:
        """Its GET /metrics (INBOXLINK_METRICS_HTTP), parsed by the Prometheus parser: {sample: value}
        for the unlabelled samples; {} while it does not answer."""
        try:
            body = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return {}
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
            if not sample.labels
        }

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def owner_pid(owner: str) -> int:
    """The pid in a lease owner "host:pid:nonce"."""
    return int(owner.split(":")[1])


@dataclass
class Conversation:
    inbox_id: int
    mailbox: str
    tracked_id: str  # the Message-ID of the CRM email a reply answers (without <>)


async def track_one_email_each(rt: Runtime, team: int, inbox_ids: list[int]) -> list[str]:
    """A sent CRM email per inbox, its Message-ID tracked: a reply to it is logged."""
    ids = [f"crm-{i}-{secrets.token_hex(4)}@inboxlink.test" for i in inbox_ids]
    async with rt.engine.begin() as conn:
        for inbox_id, mid in zip(inbox_ids, ids, strict=True):
            thread = (
                await conn.execute(insert(threads).values(team_id=team, created_at=now()))
            ).inserted_primary_key[0]
            email = await conn.execute(
                insert(emails).values(
                    team_id=team, thread_id=thread, inbox_id=inbox_id, message_id=mid, dedupe_key=mid,
                    direction="outbound", status="sent", to_addrs=[{"email": "client@prospect.test"}],
                    cc_addrs=[], bcc_addrs=[], references=[], problems=[], source="crm", created_at=now(),
                )
            )  # fmt: skip
            await conn.execute(
                insert(tracked_ids).values(
                    team_id=team, message_id=mid, scope=TEAM, email_id=email.inserted_primary_key[0]
                )
            )
    return ids


def deliver_reply(mail_server: Any, conv: Conversation, text: str) -> str:
    """A client's reply to the inbox's tracked email, delivered over LMTP; returns its Message-ID."""
    reply_id, raw = make_reply(
        sender="Client <client@prospect.test>",
        to=conv.mailbox,
        subject="Re: Our offer",
        text=text,
        in_reply_to=conv.tracked_id,
        references=[conv.tracked_id],
    )
    mail_server.deliver(conv.mailbox, raw)
    return reply_id


# ---- reading the database ----------------------------------------------------------------------


async def lease_rows(rt: Runtime) -> dict[int, tuple[str, int]]:
    """{inbox_id: (owner, token)} of every lease row (live owner or not)."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(select(inbox_leases.c.inbox_id, inbox_leases.c.owner, inbox_leases.c.token))
        return {r.inbox_id: (r.owner, r.token) for r in rows}


async def held_by_pid(rt: Runtime) -> dict[int, set[int]]:
    """{worker pid: inbox ids} of the leases whose owner's heartbeat is live."""
    from inboxlink.services.platform import leases

    spread: dict[int, set[int]] = {}
    for inbox_id, owner, _token in await leases.holders(rt):
        spread.setdefault(owner_pid(owner), set()).add(inbox_id)
    return spread


async def worker_expiry(rt: Runtime, pid: int) -> Any:
    """expires_at of that worker's heartbeat row (frozen once it stops renewing)."""
    async with rt.engine.connect() as conn:
        return await conn.scalar(select(workers.c.expires_at).where(workers.c.pid == pid))


async def logged(rt: Runtime, message_ids: list[str]) -> dict[str, list[Any]]:
    """{Message-ID: [created_at of each inbound row with it]}: one entry each is "exactly once"."""
    found: dict[str, list[Any]] = {mid: [] for mid in message_ids}
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            select(emails.c.message_id, emails.c.created_at).where(
                emails.c.direction == "inbound", emails.c.message_id.in_(message_ids)
            )
        )
        for r in rows:
            found[r.message_id].append(r.created_at)
    return found


async def followed(rt: Runtime, inbox_ids: list[int]) -> int:
    """How many of these inboxes a monitor has synced at least once (their INBOX cursor exists)."""
    async with rt.engine.connect() as conn:
        return int(
            await conn.scalar(
                select(func.count())
                .select_from(folder_cursors)
                .where(folder_cursors.c.inbox_id.in_(inbox_ids), folder_cursors.c.folder == "INBOX")
            )
            or 0
        )


async def seed(rt: Runtime, mail_server: Any, count: int) -> list[Conversation]:
    """`count` Dovecot users, each a connected inbox (written straight into the database, no connect
    probe) with one tracked CRM email."""
    from bench.harness import insert_inboxes

    tag = secrets.token_hex(3)
    accounts = [(f"fl{i}-{tag}@example.test", secrets.token_urlsafe(12)) for i in range(count)]
    for address, password in accounts:
        mail_server.add_user(address, password, folders=())
    team, inbox_ids = await insert_inboxes(rt, mail_server.imaps_port, accounts)
    tracked = await track_one_email_each(rt, team, inbox_ids)
    return [
        Conversation(inbox_id, address, mid)
        for inbox_id, (address, _p), mid in zip(inbox_ids, accounts, tracked, strict=True)
    ]

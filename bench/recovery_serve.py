"""Scenario 5 of bench/recovery_times.py: a real `inboxlink serve` process on its own Dovecot,
killed with -9 while replies keep arriving, then started again."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import signal
import sqlite3
from dataclasses import dataclass

import httpx

from bench.harness import reply, seconds_until, until
from tests.peers.dovecot import MailServer, MailUser
from tests.peers.provider_smtp import ProviderSmtp
from tests.support.mail import inbox_body
from tests.support.serve import ServeProcess

BACKLOG_SERVE = 20  # replies waiting while serve is down
POLL_HTTP = 0.1  # seconds
SERVE_LEASE_TTL, SERVE_RESCAN = 30.0, 5.0  # the Supervisor defaults `inboxlink serve` runs with

# ---- 5: a real `inboxlink serve` on Dovecot B ----------------------------------------------------


class Serve(ServeProcess):
    """The tests' `inboxlink serve` process, plus what this benchmark reads from its SQLite file."""

    def lease_expiry(self, inbox_id: int) -> str | None:
        """The inbox lease's expires_at as the (now dead) process left it in its SQLite file."""
        with contextlib.closing(sqlite3.connect(self.data / "inboxlink.db", timeout=5)) as db:
            row = db.execute("SELECT expires_at FROM inbox_leases WHERE inbox_id = ?", (inbox_id,)).fetchone()
        return str(row[0]) if row else None

    def cli_ok(self, *args: str, stdin: str | None = None) -> str:
        done = self.cli(*args, stdin=stdin)
        if done.returncode != 0:
            raise RuntimeError(f"inboxlink {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout


@dataclass
class ServeSide:
    serve: Serve
    server: MailServer
    api: httpx.AsyncClient
    inbox_id: int
    mailbox: str
    client: str
    message_id: str
    contact_id: int

    async def visible(self, ids: set[str]) -> bool:
        try:
            resp = await self.api.get(f"/contacts/{self.contact_id}/emails")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and ids <= {e["message_id"] for e in resp.json()["items"]}

    async def restart(self, rep: int) -> tuple[float, float, float, asyncio.Task[float]]:
        """kill -9, the backlog delivered, started again: (started, HTTP answered, old lease left at
        the start, a task ending with the time.monotonic() at which the whole backlog was visible)."""
        # A crash comes at any point of the supervisor's 5 s renewal cycle, not right after a pass
        # (which is when the previous repetition's backlog showed up).
        await asyncio.sleep(random.uniform(0, SERVE_RESCAN))
        self.serve.kill(signal.SIGKILL)
        expiry = await asyncio.to_thread(self.serve.lease_expiry, self.inbox_id)
        ids: set[str] = set()
        for i in range(BACKLOG_SERVE):
            reply_id, raw = reply(
                self.mailbox, self.client, self.message_id, f"while serve was down {rep}.{i}"
            )
            await asyncio.to_thread(self.server.deliver, self.mailbox, raw, self.client)
            ids.add(reply_id)
        lease_left = max(0.0, seconds_until(expiry))
        started, answered = await asyncio.to_thread(self.serve.start, 0.02)
        watcher = asyncio.create_task(
            until(lambda: self.visible(ids), POLL_HTTP, f"{len(ids)} replies after the serve restart")
        )
        return started, answered, lease_left, watcher


async def set_up_serve(serve: Serve, server: MailServer, provider: ProviderSmtp) -> ServeSide:
    tag = secrets.token_hex(3)
    account = MailUser(f"serve-{tag}@example.test", secrets.token_urlsafe(12))
    await asyncio.to_thread(server.add_user, account.email, account.password)
    await asyncio.to_thread(
        serve.cli_ok, "users", "create", "ops@crm.test", "--name", "Ops", stdin="a long password\n"
    )
    token = (await asyncio.to_thread(serve.cli_ok, "tokens", "create", "ops@crm.test")).strip()
    started, answered = await asyncio.to_thread(serve.start, 0.02)
    print(
        f"  inboxlink serve (pid {serve.proc.pid if serve.proc else '?'}) answers HTTP {answered - started:.2f} s after its start"
    )
    api = httpx.AsyncClient(
        base_url=serve.base + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    resp = await api.post("/inboxes", json=inbox_body(server, provider, account))
    if resp.status_code != 201:
        raise RuntimeError(f"connecting {account.email} through serve: {resp.status_code} {resp.text}")
    inbox_id = resp.json()["id"]
    client = f"serve-client-{tag}@prospect.test"
    resp = await api.post(
        "/emails", json={"inbox_id": inbox_id, "to": [{"email": client}], "subject": "Our offer", "text": "t"}
    )
    if resp.status_code != 202:
        raise RuntimeError(f"sending through serve: {resp.status_code} {resp.text}")
    email = resp.json()

    async def sent() -> bool:
        status = (await api.get(f"/emails/{email['id']}")).json()["status"]
        if status == "failed":
            raise RuntimeError("the CRM email sent through serve failed")
        return bool(status == "sent")

    async def first_pass() -> bool:  # cursors saved: what arrives from now on is the monitor's
        return (await api.get(f"/inboxes/{inbox_id}")).json()["last_sync_at"] is not None

    await until(sent, POLL_HTTP, "CRM email sent by serve")
    await until(first_pass, POLL_HTTP, "serve's monitor: first pass")
    contact_id = (await api.get("/contacts", params={"email": client})).json()["items"][0]["id"]
    print(f"  serve monitors {account.email} (inbox {inbox_id}); CRM email sent")
    return ServeSide(serve, server, api, inbox_id, account.email, client, email["message_id"], contact_id)

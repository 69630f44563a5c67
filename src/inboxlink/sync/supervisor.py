"""Keeps one InboxMonitor task per connected inbox that this worker holds the lease of: starts
monitors for new or reconnected inboxes, stops them for deleted ones, restarts them when the
credentials change, and renews its leases (services.platform.leases) on every pass. Woken by the API in the
same process (`inboxes_changed`) and otherwise re-reads the inbox list every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket

from sqlalchemy import select

from inboxlink.services.platform import leases
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.tables import inboxes
from inboxlink.sync.monitor import InboxMonitor

log = logging.getLogger(__name__)


def owner_is_dead(owner: str) -> bool:
    """A lease owner is "host:pid:nonce". On this host we can tell whether that process still
    runs: a worker restarted after kill -9 takes its inboxes back at once instead of after the TTL.
    Owners on other hosts are never judged dead here; their leases expire."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # our own pid: another Supervisor of this process, which is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


class Supervisor:
    def __init__(
        self, rt: Runtime, *, rescan: float = 5.0, lease_ttl: float = 30.0, claim_batch: int = 100
    ) -> None:
        self.rt = rt
        self.rescan = rescan
        self.lease_ttl = lease_ttl
        # Claiming a batch per pass (not everything at once) spreads inboxes over workers that start together.
        self.claim_batch = claim_batch
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.held: dict[int, int] = {}
        self.monitors: dict[int, tuple[InboxMonitor, asyncio.Task[None], bytes]] = {}
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                # Cleared before the pass: a change that lands during it wakes the next one at once.
                self.rt.inboxes_changed.clear()
                try:
                    await self.reconcile()
                except Exception:
                    log.exception("supervisor: could not read the inbox list; retrying")
                waits = {
                    asyncio.ensure_future(self._stopping.wait()),
                    asyncio.ensure_future(self.rt.inboxes_changed.wait()),
                }
                await asyncio.wait(waits, timeout=self.rescan, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
        finally:
            await self._stop_all()

    async def reconcile(self) -> None:
        async with self.rt.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        inboxes.c.id, inboxes.c.status, inboxes.c.disconnect_reason, inboxes.c.secret
                    ).where(inboxes.c.deleted_at.is_(None))
                )
            ).all()
        # A monitor keeps running through connection_failed (it is the one that retries); auth
        # failures wait for new credentials.
        wanted = {
            r.id: bytes(r.secret)
            for r in rows
            if r.status == "connected"
            or (
                r.status == "disconnected"
                and r.disconnect_reason in {"connection_failed", "oauth_client_invalid"}
            )
        }
        lost = await leases.renew(self.rt, self.owner, self.held, self.lease_ttl)
        for inbox_id in lost:
            log.warning("inbox %s: lease taken over by another worker; stopping here", inbox_id)
            self.held.pop(inbox_id, None)
        for inbox_id, (monitor, task, secret) in list(self.monitors.items()):
            if (
                inbox_id not in wanted
                or inbox_id not in self.held
                or wanted[inbox_id] != secret
                or task.done()
            ):
                if not task.done():
                    monitor.stopping.set()
                    await self._await(task)
                del self.monitors[inbox_id]
        gone = [i for i in self.held if i not in wanted]
        if gone:
            await leases.release(self.rt, self.owner, gone)
            for inbox_id in gone:
                del self.held[inbox_id]
        candidates = [i for i in wanted if i not in self.held]
        if candidates:
            dead = {o for o in await leases.owners(self.rt) if owner_is_dead(o)}
            self.held.update(
                await leases.claim(self.rt, self.owner, candidates, self.lease_ttl, self.claim_batch, dead)
            )
        for inbox_id, secret in wanted.items():
            if inbox_id in self.held and inbox_id not in self.monitors:
                monitor = InboxMonitor(self.rt, inbox_id)
                task = asyncio.create_task(monitor.run(), name=f"monitor-{inbox_id}")
                self.monitors[inbox_id] = (monitor, task, secret)

    async def _await(self, task: asyncio.Task[None]) -> None:
        try:
            await asyncio.wait_for(task, 5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        except Exception:
            log.exception("monitor ended with an error")

    async def _stop_all(self) -> None:
        for monitor, _task, _secret in self.monitors.values():
            monitor.stopping.set()
        await asyncio.gather(
            *(self._await(task) for _m, task, _s in self.monitors.values()), return_exceptions=True
        )
        self.monitors.clear()
        try:
            await leases.release(self.rt, self.owner)  # hand the inboxes over at once, not after expiry
        except Exception:
            log.warning("could not release inbox leases; they expire by themselves")
        self.held.clear()

    def stop(self) -> None:
        self._stopping.set()

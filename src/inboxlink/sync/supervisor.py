"""Keeps one InboxMonitor task per connected inbox that this worker holds the lease of: starts
monitors for new or reconnected inboxes, stops them for deleted ones, restarts them when the
credentials change, and renews its leases (services.platform.leases: one heartbeat UPDATE) on
every pass, keeping to its fair share of the inboxes (domain.fair_share: within one of
inboxes / live workers). Woken by the API in the
same process (`inboxes_changed`) and otherwise re-reads the inbox list every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import secrets
import socket
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from inboxlink.domain.fair_share import share_of
from inboxlink.services.platform import leases, metrics
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.db import create_engine
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
        self,
        rt: Runtime,
        *,
        rescan: float | None = None,
        lease_ttl: float | None = None,
        claim_batch: int = 200,
    ) -> None:
        self.rt = rt
        self.lease_ttl = lease_ttl if lease_ttl is not None else rt.settings.lease_ttl
        # A pass at least every TTL / 3: a lease lost to another worker is noticed well within a TTL.
        self.rescan = rescan if rescan is not None else min(5.0, self.lease_ttl / 3)
        # Claiming a batch per pass (not everything at once) spreads inboxes over workers that start together.
        self.claim_batch = claim_batch
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.owner = f"{self.host}:{self.pid}:{secrets.token_hex(3)}"
        self.held: dict[int, int] = {}
        self.monitors: dict[int, tuple[InboxMonitor, asyncio.Task[None], bytes]] = {}
        self.passes = 0
        self._more = False  # the last pass claimed a full batch: look again soon
        self._stopping = asyncio.Event()
        self._last_beat: float | None = None  # time.monotonic() of the last committed heartbeat
        # On PostgreSQL the heartbeat has a connection of its own: 300 monitors writing at once
        # must not keep it waiting for the shared pool (measured: 5 s). SQLite: one file, one engine.
        self._beat_engine: AsyncEngine | None = None  # made by run()

    async def run(self) -> None:
        if self.rt.engine.dialect.name == "postgresql":
            self._beat_engine = create_engine(self.rt.settings.database_url)
        beating = asyncio.create_task(self._beat_loop(), name="lease-heartbeat")
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
                pause = min(0.5, self.rescan) if self._more else self.rescan
                await asyncio.wait(waits, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            await self._stop_all()
            if self._beat_engine is not None:
                await self._beat_engine.dispose()

    async def _beat_loop(self) -> None:
        """Renew the leases every TTL / 4 on a schedule of their own: a pass that is slow (monitors
        to stop, a big claim, a busy database pool) must not let them lapse. Measured with 1,000
        inboxes on a busy 2-core host: renewing only once per pass left gaps of 14 s, over a 10 s TTL."""
        interval = self.lease_ttl / 4
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if self._stopping.is_set() or self._last_beat is None:
                continue  # the first pass registers this worker (one INSERT, not two racing)
            try:
                await self._heartbeat()
            except Exception:
                log.warning("supervisor: heartbeat failed; retrying in %.1f s", interval, exc_info=True)

    async def reconcile(self) -> None:
        """One pass, in a constant number of statements whatever the number of inboxes: the inbox
        list, the live workers, this worker's leases, and when needed one bury, one release and one
        claim (two statements). The heartbeat runs beside it (_beat_loop); the first pass registers."""
        self.passes += 1
        async with self.rt.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        inboxes.c.id, inboxes.c.status, inboxes.c.disconnect_reason, inboxes.c.secret
                    ).where(inboxes.c.deleted_at.is_(None))
                )
            ).all()
        # A monitor keeps running through connection_failed (it is the one that retries); auth
        # failures wait for new credentials. (leases.monitored() is the same rule in SQL.)
        wanted = {
            r.id: bytes(r.secret)
            for r in rows
            if r.status == "connected"
            or (r.status == "disconnected" and r.disconnect_reason in leases.RETRYING)
        }
        if self._last_beat is None:
            await self._heartbeat()  # register; from then on _beat_loop renews
        live = await leases.live_workers(self.rt)
        dead = [w for w, host, pid in live if host == self.host and owner_is_dead(f"{host}:{pid}:")]
        await leases.bury(self.rt, dead)  # killed here: their inboxes move at once, not after the TTL
        mine = await leases.held(self.rt, self.owner)
        for inbox_id in [i for i, token in self.held.items() if mine.get(i) != token]:
            log.warning("inbox %s: lease taken over by another worker; stopping here", inbox_id)
            metrics.LEASE_LOSSES.inc()
            self.held.pop(inbox_id, None)
        # This worker's own share (domain.fair_share): N // W or one more, summing to N over the live workers.
        share = share_of(len(wanted), [w for w, _h, _p in live if w not in dead], self.owner)
        keep = sorted(i for i in self.held if i in wanted)
        excess = keep[share:]  # over the fair share: give the newest back to the others
        doomed = {
            inbox_id
            for inbox_id, (_monitor, task, secret) in self.monitors.items()
            if inbox_id not in wanted
            or inbox_id not in self.held
            or inbox_id in excess
            or wanted[inbox_id] != secret
            or task.done()
        }
        await self._stop(doomed)
        gone = [i for i in self.held if i not in wanted] + excess
        if gone:
            await leases.release(self.rt, self.owner, gone)
            metrics.LEASE_RELEASES.inc(len(excess))
            for inbox_id in gone:
                del self.held[inbox_id]
        room = min(share - len(self.held), self.claim_batch)
        self._more = False
        if room > 0 and len(self.held) < len(wanted):
            won = await leases.claim(self.rt, self.owner, room)
            self.held.update(won)
            self._more = len(won) == room and len(self.held) < share
        for inbox_id, secret in wanted.items():
            if inbox_id in self.held and inbox_id not in self.monitors:
                self._start(inbox_id, secret)
        metrics.MONITORS.set(len(self.monitors))

    async def _heartbeat(self) -> None:
        """Renew every lease (one UPDATE), saying so when the renewal comes late: a gap near the TTL
        means an overloaded process whose leases the others may take."""
        began = time.monotonic()
        await leases.heartbeat(
            self.rt, self.owner, self.host, self.pid, self.lease_ttl, engine=self._beat_engine
        )
        done = time.monotonic()
        if self._last_beat is not None and done - self._last_beat > self.lease_ttl / 2:
            log.warning(
                "supervisor: %.1f s between heartbeats (the UPDATE took %.1f s; lease TTL %.0f s)",
                done - self._last_beat, done - began, self.lease_ttl,
            )  # fmt: skip
        self._last_beat = done

    def _start(self, inbox_id: int, secret: bytes) -> None:
        monitor = InboxMonitor(self.rt, inbox_id)
        # The monitor's writes are fenced with this lease (services.platform.leases.fence).
        context = contextvars.copy_context()
        context.run(leases.LEASE.set, leases.Lease(inbox_id, self.owner, self.held[inbox_id], self.lease_ttl))
        task = asyncio.create_task(monitor.run(), name=f"monitor-{inbox_id}", context=context)
        self.monitors[inbox_id] = (monitor, task, secret)

    async def _stop(self, inbox_ids: set[int]) -> None:
        """Stop these monitors, all at once (a worker giving back 500 inboxes must not take 500 turns)."""
        stopping = [self.monitors.pop(i) for i in inbox_ids if i in self.monitors]
        for monitor, _task, _secret in stopping:
            monitor.stopping.set()
        await asyncio.gather(*(self._await(task) for _m, task, _s in stopping), return_exceptions=True)

    async def _await(self, task: asyncio.Task[None]) -> None:
        if task.done():
            return
        try:
            await asyncio.wait_for(task, 5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        except Exception:
            log.exception("monitor ended with an error")

    async def _stop_all(self) -> None:
        await self._stop(set(self.monitors))
        metrics.MONITORS.set(0)
        try:
            await leases.retire(self.rt, self.owner)  # hand the inboxes over at once, not after expiry
        except Exception:
            log.warning("could not release inbox leases; they expire by themselves")
        self.held.clear()

    def stop(self) -> None:
        self._stopping.set()

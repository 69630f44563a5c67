"""Keeps one InboxMonitor task per connected inbox: starts monitors for new or reconnected inboxes,
stops them for deleted ones, restarts them when the credentials change. Woken by the API in the same
process (`inboxes_changed`) and otherwise re-reads the inbox list every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select

from inboxlink.services.runtime import Runtime
from inboxlink.storage.tables import inboxes
from inboxlink.sync.monitor import InboxMonitor

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, rt: Runtime, *, rescan: float = 5.0) -> None:
        self.rt = rt
        self.rescan = rescan
        self.monitors: dict[int, tuple[InboxMonitor, asyncio.Task[None], bytes]] = {}
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    await self.reconcile()
                except Exception:
                    log.exception("supervisor: could not read the inbox list; retrying")
                self.rt.inboxes_changed.clear()
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
            or (r.status == "disconnected" and r.disconnect_reason == "connection_failed")
        }
        for inbox_id, (monitor, task, secret) in list(self.monitors.items()):
            if inbox_id not in wanted or wanted[inbox_id] != secret or task.done():
                if not task.done():
                    monitor.stopping.set()
                    await self._await(task)
                del self.monitors[inbox_id]
        for inbox_id, secret in wanted.items():
            if inbox_id not in self.monitors:
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

    def stop(self) -> None:
        self._stopping.set()

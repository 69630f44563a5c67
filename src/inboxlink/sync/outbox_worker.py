"""The send worker: takes due outbox jobs one at a time and hands them to `services.mail.delivery`.

Woken at once by the API (same process) and otherwise polls, so a job queued by another process on
PostgreSQL is still picked up within `poll` seconds."""

from __future__ import annotations

import asyncio
import logging

from inboxlink.services.mail import delivery
from inboxlink.services.platform.runtime import Runtime

log = logging.getLogger(__name__)

RECOVERY_EVERY = 60.0  # seconds between looks for orphaned `sending` jobs


class OutboxWorker:
    def __init__(self, rt: Runtime, *, poll: float = 2.0, orphan_after: float = 180.0) -> None:
        self.rt = rt
        self.poll = poll
        # On SQLite only this process sends, so any job left in `sending` at start is an orphan.
        self.orphan_after = 0.0 if rt.engine.dialect.name == "sqlite" else orphan_after
        self._stopping = asyncio.Event()

    async def _recover(self) -> None:
        try:
            found = await delivery.recover_interrupted(self.rt, self.orphan_after)
            if found:
                log.info("resolved %d sends interrupted by a stop or a failed worker", found)
        except Exception:
            log.exception("could not resolve interrupted sends; trying again later")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_recovery = 0.0
        while not self._stopping.is_set():
            # Between jobs nothing of ours is in flight, so any `sending` job past the orphan age
            # belongs to a worker that died (or to an error that broke a job midway).
            if loop.time() >= next_recovery:
                await self._recover()
                next_recovery = loop.time() + RECOVERY_EVERY
            try:
                job = await delivery.claim_next_job(self.rt)
                if job is not None:
                    await delivery.process_job(self.rt, job)
                    continue
                wait = await delivery.next_due_in(self.rt)
            except Exception:
                log.exception("send worker iteration failed; retrying shortly")
                wait = self.poll
            await self._sleep(self.poll if wait is None else min(wait, self.poll))

    async def _sleep(self, seconds: float) -> None:
        self.rt.outbox_wakeup.clear()
        stop = asyncio.ensure_future(self._stopping.wait())
        wake = asyncio.ensure_future(self.rt.outbox_wakeup.wait())
        try:
            await asyncio.wait({stop, wake}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            wake.cancel()

    def stop(self) -> None:
        self._stopping.set()

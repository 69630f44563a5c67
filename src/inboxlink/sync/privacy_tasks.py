"""Periodic privacy housekeeping in the worker: retention (daily, in small batches per team) and the
sweep of orphaned blob files (hourly). Plain periodic tasks; `run_retention_batch` is the unit a
durable jobs table can take over."""

from __future__ import annotations

import asyncio
import logging

from inboxlink.services.crm.retention import run_retention
from inboxlink.services.platform.blob_sweep import sweep_orphan_blobs
from inboxlink.services.platform.runtime import Runtime

log = logging.getLogger(__name__)

RETENTION_EVERY = 86_400.0
SWEEP_EVERY = 3_600.0


class PrivacyTasks:
    def __init__(
        self, rt: Runtime, *, retention_every: float = RETENTION_EVERY, sweep_every: float = SWEEP_EVERY
    ) -> None:
        self.rt = rt
        self.retention_every = retention_every
        self.sweep_every = sweep_every
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # A first pass shortly after start (not at once: starting up is busy enough).
        next_retention = next_sweep = loop.time() + 30.0
        while not self._stopping.is_set():
            if loop.time() >= next_retention:
                next_retention = loop.time() + self.retention_every
                try:
                    deleted = await run_retention(self.rt)
                    if deleted:
                        log.info("retention: deleted %d logged emails past their team's retention", deleted)
                except Exception:
                    log.exception("retention pass failed; trying again at the next pass")
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + self.sweep_every
                try:
                    swept = await sweep_orphan_blobs(self.rt)
                    if swept:
                        log.info("removed %d attachment files no email referenced", swept)
                except Exception:
                    log.exception("orphaned blob sweep failed; trying again later")
            wait = max(0.1, min(next_retention, next_sweep) - loop.time())
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=wait)
            except TimeoutError:
                pass

    def stop(self) -> None:
        self._stopping.set()

"""Durable jobs: "do X at time T, once, retried with backoff, surviving restarts, claimed by one of
N workers" (docs/architecture.md, "Jobs, events and webhooks").

A job is a row written in the caller's transaction (`enqueue(conn, ...)`), so it exists exactly when
the change that causes it was committed. `JobRunner` (inside `serve` and `worker`) claims due jobs —
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so N workers never take the same row; plainly on SQLite,
where one process writes — and dispatches them by kind to the async handlers registered here. A
claim lasts `jobs_lease` seconds: a worker killed mid-job leaves a claim that expires, and the job
runs again elsewhere, so handlers must be idempotent (they all work off rows they re-read)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.platform_tables import jobs

log = logging.getLogger(__name__)

Handler = Callable[[Runtime, dict[str, Any]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}
MAX_ATTEMPTS = 20  # for handlers that raise; a `Retry` is the handler's own decision and not counted


class Retry(Exception):
    """Raised by a handler: run this job again in `after` seconds (its own schedule, e.g. a
    webhook delivery's backoff)."""

    def __init__(self, after: float, reason: str = "") -> None:
        super().__init__(reason)
        self.after = max(0.0, after)


def register(kind: str) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler

    return decorate


def backoff(attempts: int, base: float, cap: float = 3600.0) -> float:
    """Seconds before attempt `attempts + 1`: doubling from `base`, capped, with "equal jitter" (half
    fixed, half random) so that retries of many jobs failed at once spread out."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay / 2 + random.uniform(0, delay / 2)


async def enqueue(
    conn: AsyncConnection,
    kind: str,
    payload: dict[str, Any],
    *,
    delay: float = 0.0,
    key: str | None = None,
) -> None:
    """A job in the caller's transaction. With `key`, nothing is added while a pending job with the
    same key exists (it will do the work; handlers re-read their rows)."""
    if key is not None:
        # On PostgreSQL that pending job could be claimed and finish before this transaction
        # commits, never seeing what it adds: lock it until our commit (a claimer skips locked
        # rows), and if another transaction holds it, add a job of our own rather than wait.
        existing = await conn.execute(
            select(jobs.c.id)
            .where(jobs.c.key == key, jobs.c.status == "pending")
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if existing.first() is not None:
            return
    stamp = now()
    await conn.execute(
        jobs.insert().values(
            kind=kind,
            key=key,
            run_at=stamp + timedelta(seconds=delay),
            payload=payload,
            attempts=0,
            status="pending",
            created_at=stamp,
        )
    )


class JobRunner:
    def __init__(self, rt: Runtime, *, concurrency: int = 8) -> None:
        self.rt = rt
        self.name = secrets.token_hex(6)
        self.concurrency = concurrency
        self.wakeup = rt.jobs_wakeup
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                log.exception("jobs: claiming failed")
                claimed = 0
            if claimed == 0 or len(self._running) >= self.concurrency:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.rt.settings.jobs_poll)
        if self._running:
            await asyncio.wait(self._running, timeout=5)

    async def run_once(self) -> int:
        """Claim what is due (up to the free slots) and start it; the number started."""
        started = 0
        while len(self._running) < self.concurrency:
            job = await self._claim()
            if job is None:
                break
            task = asyncio.create_task(self._execute(job))
            self._running.add(task)
            task.add_done_callback(self._done)
            started += 1
        return started

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.wakeup.set()  # a slot is free

    async def _claim(self) -> Any:
        stamp = now()
        running_keys = select(jobs.c.key).where(
            jobs.c.status == "running", jobs.c.claim_expires_at > stamp, jobs.c.key.is_not(None)
        )
        due = or_(
            and_(jobs.c.status == "pending", jobs.c.run_at <= stamp),
            and_(jobs.c.status == "running", jobs.c.claim_expires_at <= stamp),  # its worker died
        )
        query = (
            select(jobs)
            .where(due, or_(jobs.c.key.is_(None), jobs.c.key.not_in(running_keys)))
            .order_by(jobs.c.run_at, jobs.c.id)
            .limit(1)
        )
        async with self.rt.engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                query = query.with_for_update(skip_locked=True)
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            guard = and_(jobs.c.id == row.id, jobs.c.status == row.status)
            if row.key is not None:
                # No two jobs of one key at once, even when two claimers pick two of its jobs in
                # the same instant: they serialise on the key, and the UPDATE (a fresh snapshot
                # after the lock; one atomic statement on SQLite) sees the other's claim.
                if postgres:
                    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": row.key})
                twin = jobs.alias("twin")
                guard = and_(
                    guard,
                    ~exists().where(
                        twin.c.key == row.key,
                        twin.c.id != row.id,
                        twin.c.status == "running",
                        twin.c.claim_expires_at > stamp,
                    ),
                )
            claimed = await conn.execute(
                jobs.update()
                .where(guard)
                .values(
                    status="running",
                    claimed_by=self.name,
                    claim_expires_at=stamp + timedelta(seconds=self.rt.settings.jobs_lease),
                )
            )
            return row if claimed.rowcount == 1 else None

    async def _renew_claim(self, job_id: int) -> None:
        """While the job runs, keep its claim from expiring (else another worker would run it
        too: a slow webhook receiver, a long send); a claim lapses only when its worker is gone."""
        lease = self.rt.settings.jobs_lease
        while True:
            await asyncio.sleep(lease / 3)
            try:
                async with self.rt.engine.begin() as conn:
                    await conn.execute(
                        jobs.update()
                        .where(
                            jobs.c.id == job_id, jobs.c.claimed_by == self.name, jobs.c.status == "running"
                        )
                        .values(claim_expires_at=now() + timedelta(seconds=lease))
                    )
            except Exception:
                log.exception("jobs: renewing the claim of job %s failed", job_id)

    async def _execute(self, job: Any) -> None:
        handler = HANDLERS.get(job.kind)
        renewer = asyncio.create_task(self._renew_claim(job.id))
        try:
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {job.kind!r}")
                await handler(self.rt, dict(job.payload))
            finally:
                renewer.cancel()
        except Retry as retry:
            await self._finish(job, "pending", delay=retry.after, error=str(retry) or None, count=False)
        except Exception as exc:
            log.warning("job %s (%s) failed: %r", job.id, job.kind, exc)
            attempts = job.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await self._finish(job, "failed", error=repr(exc))
            else:
                await self._finish(job, "pending", delay=backoff(attempts, 5.0), error=repr(exc))
        else:
            await self._finish(job, "done")

    async def _finish(
        self, job: Any, status: str, *, delay: float = 0.0, error: str | None = None, count: bool = True
    ) -> None:
        ours = and_(jobs.c.id == job.id, jobs.c.claimed_by == self.name, jobs.c.status == "running")
        async with self.rt.engine.begin() as conn:
            if status == "pending" and job.key is not None:
                twin = await conn.execute(
                    select(jobs.c.id).where(jobs.c.key == job.key, jobs.c.status == "pending").limit(1)
                )
                if twin.first() is not None:
                    status = "done"  # a newer job for the same key was queued meanwhile; it carries on
            await conn.execute(
                jobs.update()
                .where(ours)
                .values(
                    status=status,
                    attempts=job.attempts + (1 if count and status != "done" else 0),
                    last_error=error,
                    run_at=now() + timedelta(seconds=delay),
                    claimed_by=None,
                    claim_expires_at=None,
                )
            )

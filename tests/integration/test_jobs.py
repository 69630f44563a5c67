"""Durable jobs: each claimed once with two workers (two runtimes, two connection pools) on
PostgreSQL and on SQLite; a job whose worker died is taken over once its claim expires."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from inboxlink.config import load_settings
from inboxlink.services.platform import jobs
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.db import migrate
from inboxlink.storage.platform_tables import jobs as jobs_table
from tests.support.app import fresh_postgres_db, postgres_reachable, wait_for

RAN: Counter[int] = Counter()


@jobs.register("test.count")
async def _count(rt: Runtime, payload: dict[str, Any]) -> None:
    await asyncio.sleep(0.01)  # long enough for the other worker to look at the same rows
    RAN[int(payload["n"])] += 1


@contextlib.asynccontextmanager
async def runtimes(tmp_path: Path, database_url: str | None, count: int) -> AsyncIterator[list[Runtime]]:
    env = {
        "INBOXLINK_DATA_DIR": str(tmp_path / "data"),
        "INBOXLINK_JOBS_POLL": "0.05",
        "INBOXLINK_JOBS_LEASE": "1",
    }
    if database_url:
        env["INBOXLINK_DATABASE_URL"] = database_url
    settings = load_settings(env)
    await asyncio.to_thread(migrate, settings.database_url)
    made = [Runtime.create(settings) for _ in range(count)]
    try:
        yield made
    finally:
        for rt in made:
            await rt.close()


def _backends() -> list[Any]:
    reason = postgres_reachable()
    return [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.skipif(reason is not None, reason=reason or "")),
    ]


@pytest.mark.parametrize("backend", _backends())
async def test_two_workers_claim_each_job_once(tmp_path: Path, backend: str) -> None:
    RAN.clear()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_db()) if backend == "postgresql" else None
        async with runtimes(tmp_path, url, 2) as (first, second):
            async with first.engine.begin() as conn:
                for n in range(200):
                    await jobs.enqueue(conn, "test.count", {"n": n})
            runners = [jobs.JobRunner(first, concurrency=4), jobs.JobRunner(second, concurrency=4)]
            tasks = [asyncio.create_task(r.run()) for r in runners]

            async def all_done() -> bool:
                async with first.engine.connect() as conn:
                    rows = (
                        await conn.execute(jobs_table.select().where(jobs_table.c.status != "done"))
                    ).all()
                return not rows

            await wait_for(all_done, timeout=60)
            for r in runners:
                r.stop()
            await asyncio.gather(*tasks)
    assert sorted(RAN) == list(range(200))
    assert set(RAN.values()) == {1}, [n for n, c in RAN.items() if c != 1]


async def test_job_of_a_dead_worker_runs_again_after_its_claim_expires(tmp_path: Path) -> None:
    RAN.clear()
    async with runtimes(tmp_path, None, 1) as (rt,):
        async with rt.engine.begin() as conn:
            await jobs.enqueue(conn, "test.count", {"n": 7})
            # As a worker killed mid-job leaves it: running, claimed by someone gone.
            await conn.execute(
                jobs_table.update().values(
                    status="running", claimed_by="gone", claim_expires_at=now() + timedelta(seconds=0.5)
                )
            )
        runner = jobs.JobRunner(rt)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0.2)
        assert RAN[7] == 0  # the claim still holds
        await wait_for(lambda: asyncio.sleep(0, RAN[7] == 1), timeout=10)
        runner.stop()
        await task


ACTIVE: Counter[str] = Counter()
MOST: Counter[str] = Counter()


@jobs.register("test.keyed")
async def _keyed(rt: Runtime, payload: dict[str, Any]) -> None:
    key = str(payload["key"])
    ACTIVE[key] += 1
    MOST[key] = max(MOST[key], ACTIVE[key])
    try:
        await asyncio.sleep(float(payload.get("seconds", 0.05)))
    finally:
        ACTIVE[key] -= 1
    RAN[int(payload["n"])] += 1


@pytest.mark.parametrize("backend", _backends())
async def test_jobs_of_one_key_never_run_at_once_and_a_long_job_keeps_its_claim(
    tmp_path: Path, backend: str
) -> None:
    """Two workers, several pending jobs per key (as concurrent writers leave them), some running
    longer than the claim lease (1 s): per key one at a time, and every job exactly once."""
    RAN.clear()
    ACTIVE.clear()
    MOST.clear()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_db()) if backend == "postgresql" else None
        async with runtimes(tmp_path, url, 2) as (first, second):
            async with first.engine.begin() as conn:
                for n in range(12):
                    key = f"endpoint:{n % 3}"
                    await conn.execute(  # side by side, as `enqueue` from two transactions leaves them
                        jobs_table.insert().values(
                            kind="test.keyed",
                            key=key,
                            run_at=now(),
                            payload={"n": n, "key": key, "seconds": 1.6 if n < 3 else 0.05},
                            attempts=0,
                            status="pending",
                            created_at=now(),
                        )
                    )
            runners = [jobs.JobRunner(first, concurrency=4), jobs.JobRunner(second, concurrency=4)]
            tasks = [asyncio.create_task(r.run()) for r in runners]

            async def all_done() -> bool:
                async with first.engine.connect() as conn:
                    rows = (
                        await conn.execute(jobs_table.select().where(jobs_table.c.status != "done"))
                    ).all()
                return not rows

            await wait_for(all_done, timeout=60)
            for r in runners:
                r.stop()
            await asyncio.gather(*tasks)
    assert set(MOST.values()) == {1}, MOST
    assert sorted(RAN) == list(range(12)) and set(RAN.values()) == {1}, RAN

"""The events feed and webhook deliveries under concurrent writers on PostgreSQL: a transaction that
got the lower event id can commit after one with a higher id was already read. A poller that moved
its cursor past the later event must still get the earlier one, and a webhook endpoint must get
both, once each, in the feed's order (docs/webhooks.md, "Order and concurrent writers")."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inboxlink.services.accounts import webhook_delivery  # noqa: F401  (registers the job handler)
from inboxlink.services.accounts.users import create_token, create_user
from inboxlink.services.platform import events
from inboxlink.services.platform.jobs import JobRunner
from tests.support.app import TestApp as LiveApp
from tests.support.app import TestUser as ApiUser
from tests.support.app import fresh_postgres_db, postgres_reachable, running_app, wait_for
from tests.support.receiver import Receiver

FAST = {"INBOXLINK_WEBHOOK_ALLOW_PRIVATE": "true", "INBOXLINK_JOBS_POLL": "0.1"}
UNREACHABLE = postgres_reachable()
pytestmark = pytest.mark.skipif(UNREACHABLE is not None, reason=UNREACHABLE or "")


@contextlib.asynccontextmanager
async def pg_app(tmp_path: Path) -> AsyncIterator[LiveApp]:
    with fresh_postgres_db() as url:
        async with running_app(tmp_path / "data", url, worker=False, **FAST) as app:
            yield app


async def admin(app: LiveApp) -> ApiUser:
    caller = await create_user(app.rt, "boss@crm.test", "correct horse battery", admin=True)
    return ApiUser(caller, await create_token(app.rt, "boss@crm.test"), app.client)


async def poll(user: ApiUser, cursor: str | None) -> tuple[list[int], str | None]:
    resp = await user.get("/api/v1/events", params={"after": cursor} if cursor else {})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    return [item["data"]["n"] for item in page["items"]], page["next_cursor"]


async def test_poller_gets_an_event_committed_after_a_later_one_was_read(tmp_path: Path) -> None:
    async with pg_app(tmp_path) as app:
        boss = await admin(app)
        team = boss.caller.team_id
        seen, cursor = await poll(boss, None)
        assert seen == []
        async with app.rt.engine.connect() as slow:  # writer A: the lower id, committed last
            await slow.begin()
            await events.record(app.rt, slow, team, "email.sent", {"id": 1, "n": 1})
            async with app.rt.engine.begin() as quick:  # writer B: the higher id, committed first
                await events.record(app.rt, quick, team, "email.sent", {"id": 2, "n": 2})
            got, cursor = await poll(boss, cursor)
            seen += got
            assert seen == [2]  # A is not committed: the feed cannot show it yet
            await slow.commit()
        for _ in range(3):
            got, cursor = await poll(boss, cursor)
            seen += got
        assert seen == [2, 1]  # nothing lost, nothing twice
        async with app.rt.engine.begin() as conn:
            await events.record(app.rt, conn, team, "email.sent", {"id": 3, "n": 3})
        got, cursor = await poll(boss, cursor)
        assert got == [3]
        everything, _ = await poll(boss, None)
        assert everything == [2, 1, 3]  # the feed's order is the order events became visible


@pytest.mark.parametrize("open_first", [False, True], ids=["committed-first", "open-first"])
async def test_webhook_gets_both_in_the_feeds_order_when_commits_cross(
    tmp_path: Path, receiver: Receiver, open_first: bool
) -> None:
    """committed-first: B is committed with its delivery job pending, then A writes and stays open
    while the worker runs (that job must not finish without A's delivery). open-first: A writes
    first and stays open, B commits, the worker delivers B and must still deliver A later."""
    async with pg_app(tmp_path) as app:
        boss = await admin(app)
        team = boss.caller.team_id
        resp = await boss.post("/api/v1/webhooks", {"url": receiver.url, "events": ["email.sent"]})
        assert resp.status_code == 201, resp.text
        if not open_first:
            async with app.rt.engine.begin() as quick:
                await events.record(app.rt, quick, team, "email.sent", {"id": 2, "n": 2})
        async with app.rt.engine.connect() as slow:
            await slow.begin()
            await events.record(app.rt, slow, team, "email.sent", {"id": 1, "n": 1})
            if open_first:
                async with app.rt.engine.begin() as quick:
                    await events.record(app.rt, quick, team, "email.sent", {"id": 2, "n": 2})
            runner = JobRunner(app.rt)
            task = asyncio.create_task(runner.run())
            try:
                if open_first:  # B is not held back by A's open transaction
                    await wait_for(lambda: _count(receiver, 1), timeout=20)
                await asyncio.sleep(1.0)  # the worker has run what it can while A is open
                await slow.commit()
                await wait_for(lambda: _count(receiver, 2), timeout=20)
                await asyncio.sleep(0.5)  # anything extra would have arrived by now
            finally:
                runner.stop()
                await asyncio.wait_for(task, 15)
        delivered = [json.loads(r.body)["data"]["n"] for r in receiver.requests]
        feed, _ = await poll(boss, None)
        assert sorted(delivered) == [1, 2]  # each once
        assert delivered == feed  # and in the feed's order


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n

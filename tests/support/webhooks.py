"""Helpers of the webhook tests (test_webhooks.py, test_webhook_safety.py): fast retry settings, a
job runner beside a live app, admins, subscriptions, signature checks, the deliveries log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from standardwebhooks import Webhook

from inboxlink.services.accounts.users import create_token, create_user
from inboxlink.services.platform import events
from inboxlink.services.platform.jobs import JobRunner
from tests.support.app import TestApp as LiveApp
from tests.support.app import TestUser as ApiUser
from tests.support.receiver import Receiver

FAST = {
    "INBOXLINK_WEBHOOK_ALLOW_PRIVATE": "true",
    "INBOXLINK_WEBHOOK_RETRY_BASE": "0.05",
    "INBOXLINK_JOBS_POLL": "0.1",
}


@contextlib.asynccontextmanager
async def jobs_running(app: LiveApp) -> AsyncIterator[JobRunner]:
    runner = JobRunner(app.rt)
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, 15)


async def admin(app: LiveApp, email: str, team: str = "default") -> ApiUser:
    caller = await create_user(app.rt, email, "correct horse battery", team=team, admin=True)
    return ApiUser(caller, await create_token(app.rt, email), app.client)


async def subscribe(user: ApiUser, url: str, kinds: list[str]) -> dict[str, Any]:
    resp = await user.post("/api/v1/webhooks", {"url": url, "events": kinds})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def verified(secret: str, got: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(got.body, got.headers)
    return payload


async def received_at_least(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def deliveries_of(user: ApiUser, hook_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await user.get(f"/api/v1/webhooks/{hook_id}/deliveries")).json()["items"]
    return items


async def record(app: LiveApp, team_id: int, kind: str, data: dict[str, Any]) -> None:
    async with app.rt.engine.begin() as conn:
        await events.record(app.rt, conn, team_id, kind, data)

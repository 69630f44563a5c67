"""Webhook deliveries per second of one worker to a local receiver (issue 17).

    .venv/bin/python bench/webhooks.py [--events 500] [--endpoints 1,4] [--db sqlite|postgresql]

Runs inboxlink in-process (one JobRunner, SQLite by default) and a real HTTP receiver on loopback
(tests/support/receiver.py, stdlib threads). Writes `--events` events at once (each in its own
transaction, as the app does), then times until every delivery is `delivered`: with 1 endpoint
(deliveries strictly in order, one at a time) and with several (one job per endpoint, side by side).
Right before each, it times the same number of plain signed POSTs from one httpx client to the same
receiver, the floor the delivery path is compared to (ratio = jobs path / plain POSTs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inboxlink.domain.webhook_signing import new_secret, signature_header
from inboxlink.services.accounts import webhook_delivery  # noqa: F401  (registers the handler)
from inboxlink.services.accounts.users import create_token, create_user
from inboxlink.services.platform import events
from inboxlink.services.platform.jobs import JobRunner
from inboxlink.storage.platform_tables import webhook_deliveries
from tests.support.app import fresh_postgres_db, running_app
from tests.support.receiver import Receiver, start_receiver

ENV = {"INBOXLINK_WEBHOOK_ALLOW_PRIVATE": "true", "INBOXLINK_JOBS_POLL": "0.05"}


async def plain_posts(receiver: Receiver, count: int) -> float:
    secret = new_secret()
    body = b'{"type":"email.sent","timestamp":"2026-12-02T00:00:00+00:00","data":{"id":1}}'
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=10) as client:
        for n in range(count):
            stamp = int(time.time())
            sig = signature_header([secret], f"evt_{n}", stamp, body)
            headers = {"webhook-id": f"evt_{n}", "webhook-timestamp": str(stamp), "webhook-signature": sig}
            (await client.post(receiver.url, content=body, headers=headers)).raise_for_status()
    return time.perf_counter() - started


async def through_jobs(data: Path, url: str | None, receiver: Receiver, count: int, endpoints: int) -> float:
    async with running_app(data, url, worker=False, **ENV) as app:
        caller = await create_user(app.rt, "bench@crm.test", "correct horse battery", admin=True)
        token = await create_token(app.rt, "bench@crm.test")
        for _ in range(endpoints):
            resp = await app.client.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "events": ["email.sent"]},
                headers={"Authorization": f"Bearer {token}"},
            )
            resp.raise_for_status()
        per_endpoint = count // endpoints
        for n in range(per_endpoint):
            async with app.rt.engine.begin() as conn:
                await events.record(app.rt, conn, caller.team_id, "email.sent", {"id": n})
        runner = JobRunner(app.rt)
        started = time.perf_counter()
        task = asyncio.create_task(runner.run())
        while True:
            async with app.rt.engine.connect() as conn:
                left = (
                    await conn.execute(
                        webhook_deliveries.select().where(webhook_deliveries.c.status != "delivered")
                    )
                ).all()
            if not left:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        runner.stop()
        await task
        return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--endpoints", default="1,4")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    receiver = start_receiver()
    try:
        for endpoints in (int(e) for e in args.endpoints.split(",")):
            total = args.events // endpoints * endpoints
            # The plain POSTs right before each run, so both see the same load on a shared machine.
            plain = total / await plain_posts(receiver, total)
            with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
                url = stack.enter_context(fresh_postgres_db()) if args.db == "postgresql" else None
                elapsed = await through_jobs(Path(tmp) / "data", url, receiver, total, endpoints)
            rate = total / elapsed
            print(
                f"{args.db}: {total} deliveries to {endpoints} endpoint(s), one worker: {rate:8.0f} /s;"
                f" plain signed POSTs, one client: {plain:8.0f} /s  (ratio {rate / plain:.2f})"
            )
    finally:
        receiver.close()


if __name__ == "__main__":
    asyncio.run(main())

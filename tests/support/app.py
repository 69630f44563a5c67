"""A real inboxlink runtime for tests: temp data dir, real database (SQLite file or a fresh PostgreSQL
database), migrations applied, the send worker running, and an HTTP client on the ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from inboxlink.api.app import create_app
from inboxlink.config import load_settings
from inboxlink.services.accounts.users import Caller, create_token, create_user
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.db import migrate
from inboxlink.sync.outbox_worker import OutboxWorker
from inboxlink.sync.supervisor import Supervisor

PG_ADMIN_URL = os.environ.get("INBOXLINK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> str | None:
    """None when reachable, else the reason (shown in the skip message)."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"


@contextlib.contextmanager
def fresh_postgres_db() -> Iterator[str]:
    import psycopg

    name = "inboxlink_t_" + secrets.token_hex(6)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class TestUser:
    caller: Caller
    token: str
    client: httpx.AsyncClient

    async def post(self, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.post(url, json=json, headers={"Authorization": f"Bearer {self.token}"}, **kw)

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, headers={"Authorization": f"Bearer {self.token}"}, **kw)

    async def put(self, url: str, json: Any = None) -> httpx.Response:
        return await self.client.put(url, json=json, headers={"Authorization": f"Bearer {self.token}"})

    async def delete(self, url: str) -> httpx.Response:
        return await self.client.delete(url, headers={"Authorization": f"Bearer {self.token}"})


@dataclass
class TestApp:
    rt: Runtime
    client: httpx.AsyncClient
    data_dir: Path
    supervisor: Supervisor | None = None

    def monitor(self, inbox_id: int) -> Any:
        """The running monitor of an inbox (tests wait on its `connected` event)."""
        return (
            self.supervisor.monitors[inbox_id][0]
            if self.supervisor and inbox_id in self.supervisor.monitors
            else None
        )

    async def user(self, email: str, *, team: str = "default", name: str = "Sam Seller") -> TestUser:
        caller = await create_user(self.rt, email, "correct horse battery", name=name, team=team)
        return TestUser(caller, await create_token(self.rt, email), self.client)


@contextlib.asynccontextmanager
async def running_app(
    data_dir: Path, database_url: str | None = None, *, worker: bool = True, **env: str
) -> AsyncIterator[TestApp]:
    environ = {"INBOXLINK_DATA_DIR": str(data_dir), "INBOXLINK_BCC_SMTP": "off", **env}
    if database_url:
        environ["INBOXLINK_DATABASE_URL"] = database_url
    settings = load_settings(environ)
    await asyncio.to_thread(migrate, settings.database_url)
    rt = Runtime.create(settings)
    sender = OutboxWorker(rt, poll=0.5)
    supervisor = Supervisor(rt, rescan=1.0)
    tasks = [asyncio.create_task(sender.run()), asyncio.create_task(supervisor.run())] if worker else []
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://inboxlink.test") as client:
        try:
            yield TestApp(rt, client, data_dir, supervisor if worker else None)
        finally:
            sender.stop()
            supervisor.stop()
            if tasks:
                await asyncio.wait_for(asyncio.gather(*tasks), 15)
            await rt.close()


async def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll an async predicate until it returns something truthy (then return it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)

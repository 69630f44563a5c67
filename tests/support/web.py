"""The app behind a real HTTP server, and signing in to the web UI: for tests and benchmarks that
need what a browser sees (h11's header checks, cookies, CSRF)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import uvicorn

from inboxlink.api.app import create_app
from tests.peers.net import free_ports
from tests.support.app import TestApp, wait_for

PASSWORD = "correct horse battery"  # tests.support.app creates every user with it


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no CSRF field on the sign-in page"
    resp = await client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert resp.status_code == 303, resp.text


@contextlib.asynccontextmanager
async def served(app: TestApp) -> AsyncIterator[str]:
    """The app behind a real uvicorn (h11) on a loopback port, in this loop; yields its base URL."""
    [port] = free_ports(1)
    server = uvicorn.Server(
        uvicorn.Config(create_app(app.rt), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: asyncio.sleep(0, result=server.started))
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task

"""The served app (API + web UI + send worker + inbox supervisor) on a real loopback port.

It runs in its own thread with its own event loop, because Playwright's sync API owns the test
thread; tests reach the runtime through `live.call(coroutine)`."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import uvicorn

from inboxlink import web
from inboxlink.api.app import create_app
from inboxlink.services.accounts.users import create_user
from tests.support.app import TestApp, running_app

PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.env = env or {}  # extra INBOXLINK_* settings
        self.port = port or _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.app: TestApp | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="e2e-server", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self._failed:
            raise RuntimeError(f"the app did not start: {self._failed!r}")

    def stop(self) -> None:
        if self.loop and self._server:
            self.loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        self._thread.join(30)

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (services share its engine and event fan-out)."""
        assert self.loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start() or in the log of a failing test
            self._failed = exc
            self._ready.set()

    async def _main(self) -> None:
        async with running_app(self.data_dir, **self.env) as test_app:
            app = create_app(test_app.rt)
            web.install(app)  # idempotent: harmless once create_app does it itself
            config = uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                ws="none",
                timeout_graceful_shutdown=1,
            )
            self._server = uvicorn.Server(config)
            self.loop = asyncio.get_running_loop()
            self.app = test_app
            serving = asyncio.create_task(self._server.serve())
            while not self._server.started and not serving.done():
                await asyncio.sleep(0.02)
            self._ready.set()
            await serving

    def user(self, email: str, name: str) -> Any:
        assert self.app is not None
        return self.call(create_user(self.app.rt, email, PASSWORD, name=name))

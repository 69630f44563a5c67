"""A scripted IMAP server for several connections, on a loop whose clock the test controls.

Providers that cannot run here (Exchange, Gmail, iCloud, a server over its connection cap) are
played from byte scripts, one per connection, in the format of test_client_scripted.py:
("S", bytes) the server sends (`{tag}` is the last client tag), ("C", regex) one client line it
expects, and for time:
- ("IDLE", (regex, cut_after, cut_bytes)): wait for the client's line (DONE) at most `cut_after`
  seconds of the loop's clock; if it comes, it must match and the wait is recorded in `idle_waits`;
  if not, send `cut_bytes` and hang up, as Exchange does when its idle timer runs out.
- ("EVENT", name): set `events[name]`, so the test knows the script got this far.
A connection beyond the scripts is answered with `refusal` (e.g. b"* BYE Too many connections").
`arrivals` holds the clock time of every connection, `most_at_once` the largest number open at
once: the connection budget.

`run_on_virtual_clock(coro)` runs `coro` on a loop whose clock jumps ahead to the next timer when
nothing has happened on it for QUIET real seconds: a 29-minute IDLE or a 5-minute backoff passes
at once, while everything on the loopback sockets and in the database threads runs for real. Since
a jump may come while a database thread is slow, scripts set no timers but the ones under test.
"""

from __future__ import annotations

import asyncio
import re
import selectors
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
Step = tuple[str, Any]
QUIET = 0.25  # real seconds without any event before the clock jumps to the next timer


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__(selectors.DefaultSelector())
        self.offset = 0.0
        select = self._selector.select  # type: ignore[attr-defined]

        def quiet_select(timeout: float | None = None) -> list[Any]:
            if timeout is None or timeout <= QUIET:
                return select(timeout)  # type: ignore[no-any-return]
            events = select(QUIET)
            if not events:
                self.offset += timeout - QUIET  # nothing stirred: skip to the next timer
            return events  # type: ignore[no-any-return]

        self._selector.select = quiet_select  # type: ignore[attr-defined]

    def time(self) -> float:
        return super().time() + self.offset


def run_on_virtual_clock(coro: Coroutine[Any, Any, T], real_timeout: float = 120.0) -> T:
    """Run `coro` on a VirtualClockLoop; cancelled after `real_timeout` seconds of real time (a
    timer of the loop's own clock would fire at the first jump)."""
    loop = VirtualClockLoop()
    task = loop.create_task(coro)
    watchdog = threading.Timer(real_timeout, lambda: loop.call_soon_threadsafe(task.cancel))
    watchdog.start()
    try:
        return loop.run_until_complete(task)
    finally:
        watchdog.cancel()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class ScriptedServer:
    def __init__(self, scripts: list[list[Step]], refusal: bytes = b"* BYE Too many connections\r\n") -> None:
        self.scripts = scripts
        self.refusal = refusal
        self.arrivals: list[float] = []
        self.idle_waits: list[float] = []
        self.cuts = 0
        self.open = 0
        self.most_at_once = 0
        self.errors: list[BaseException] = []
        self.events: dict[str, asyncio.Event] = {}
        self.port = 0
        self._server: asyncio.Server | None = None

    def event(self, name: str) -> asyncio.Event:
        return self.events.setdefault(name, asyncio.Event())

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if self.errors:
            raise self.errors[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        index = len(self.arrivals)
        self.arrivals.append(loop.time())
        self.open += 1
        self.most_at_once = max(self.most_at_once, self.open)
        self.event(f"connection {index + 1}").set()
        try:
            if index >= len(self.scripts):
                writer.write(self.refusal)
                await writer.drain()
                return
            if await self._play(self.scripts[index], reader, writer):
                await reader.read()  # hold the line until the client goes; anything goes now
        except (AssertionError, TimeoutError) as exc:
            self.errors.append(exc)
        except ConnectionError:
            pass
        finally:
            self.open -= 1
            writer.close()

    async def _play(
        self, script: list[Step], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one connection's script; False when the server hung up (a cut)."""
        loop = asyncio.get_running_loop()
        tag = b""
        for kind, data in script:
            if kind == "S":
                writer.write(data.replace(b"{tag}", tag))
                await writer.drain()
            elif kind == "C":
                # No timeout of the loop's clock here: the clock may jump while the client waits on
                # its database thread, and a timer would then fire early. run_on_virtual_clock has a
                # watchdog in real time instead.
                line = await reader.readline()
                match = re.fullmatch(data, line)
                assert match, f"expected {data!r}, client sent {line!r}"
                tag = match.groupdict().get("tag") or tag
            elif kind == "IDLE":
                pattern, cut_after, cut = data
                started = loop.time()
                try:
                    line = await asyncio.wait_for(reader.readline(), cut_after)
                except TimeoutError:
                    self.cuts += 1
                    writer.write(cut)
                    await writer.drain()
                    return False
                assert re.fullmatch(pattern, line), f"expected {pattern!r}, client sent {line!r}"
                self.idle_waits.append(loop.time() - started)
            elif kind == "EVENT":
                self.event(data).set()
        return True

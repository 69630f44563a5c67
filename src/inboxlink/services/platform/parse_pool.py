"""Worker processes that parse mail from strangers, so a hostile message never runs on the event loop.

Why processes, not threads: parsing is pure Python (the email package, our HTML-to-text pass) and
holds the GIL, so a parse in a thread still slows every request on the loop; and a thread cannot be
stopped, so a parse that runs away would hold its thread for as long as it likes. A process runs on
the other core and can be killed when its time budget is up (docs/architecture.md has the figures).

* Started lazily, on the first parse: an app that never logs a reply never starts one. Workers are
  forked by multiprocessing's fork server, which imports the parser once; a new worker then costs
  a fork (milliseconds), not an interpreter start, so tests that each build a runtime stay fast.
  Not plain fork: the app process has threads (the default executor, aiosqlite), and forking a
  threaded process can copy a held lock.
* `POOL_SIZE` workers at most (one on a 2-core machine: the other core stays with the loop and
  Dovecot). More parses wait for a free worker; the budget counts from the moment one takes it.
* A worker over its budget, or one that died (a crash, its memory limit), is killed and replaced
  on the next parse. A worker that grew past `RECYCLE_RSS_BYTES` retires after answering, so one
  huge message does not keep its memory for the life of the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import signal
import sys
import threading
import types
from multiprocessing.connection import Connection

from inboxlink.domain.models import ParsedMessage
from inboxlink.mime.parse import parse_message

__all__ = ["POOL_SIZE", "ParsePool", "ParseTimeout", "PoolClosed", "WorkerLost"]

POOL_SIZE = max(1, min(2, (os.cpu_count() or 1) - 1))
MEMORY_LIMIT_BYTES = 2 * 1024**3  # address space of a worker: a runaway parse fails, the host does not swap
RECYCLE_RSS_BYTES = 256 * 1024**2
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])  # the fork server imports the parser once for every worker


class ParseTimeout(Exception):
    """The parse took longer than its budget; the worker was killed."""


class WorkerLost(Exception):
    """The worker died during the parse (a crash, or its memory limit)."""


class PoolClosed(RuntimeError):
    """The app is stopping: the message is not parsed now (its cursor stays, it is read next time)."""


def _serve(conn: Connection) -> None:
    """The worker's loop: (raw, max_attachment_bytes) in, (ParsedMessage, retiring) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the app; it stops us
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    while True:
        try:
            raw, max_attachment_bytes = conn.recv()
        except (EOFError, OSError):
            return  # the app closed the pipe (or died): nothing left to do
        parsed = parse_message(raw, max_attachment_bytes=max_attachment_bytes)
        retiring = _rss() > RECYCLE_RSS_BYTES
        conn.send((parsed, retiring))
        if retiring:
            return


def _rss() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0  # not Linux: no recycling by size


_START_LOCK = threading.Lock()


def _start_without_main(process: multiprocessing.process.BaseProcess) -> None:
    """Start `process` with a bare `__main__` in place. multiprocessing re-runs the parent's main
    module in every child it starts (for objects defined there): under `inboxlink serve` that is the
    CLI with uvicorn, FastAPI and SQLAlchemy, and an unguarded script would start itself again. The
    worker needs nothing from it; the swap lasts only while the start reads it, under a lock."""
    with _START_LOCK:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            process.start()
        finally:
            sys.modules["__main__"] = main


class _Worker:
    def __init__(self) -> None:
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_serve, args=(child,), name="inboxlink-parse", daemon=True)
        _start_without_main(self.process)
        child.close()
        self.usable = True
        self.expired = False

    def exchange(self, raw: bytes, max_attachment_bytes: int, budget: float) -> ParsedMessage:
        """Blocking: runs in a thread of the default executor, never on the loop. The budget covers
        the whole exchange (a big message fills the pipe, so even sending it can wait on the worker)."""
        timer = threading.Timer(budget, self._expire)
        timer.start()
        try:
            self.conn.send((raw, max_attachment_bytes))
            parsed: ParsedMessage
            retiring: bool
            parsed, retiring = self.conn.recv()
        except (EOFError, OSError) as exc:
            self.kill()
            if self.expired:
                raise ParseTimeout(f"no answer within {budget:g} s") from exc
            raise WorkerLost(f"the parse worker stopped (exit code {self.process.exitcode})") from exc
        finally:
            timer.cancel()
        if retiring or self.expired:  # expired: the timer fired just after the answer came
            self.close()
        return parsed

    def _expire(self) -> None:
        self.expired = True
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()  # the blocked send or recv then fails at once

    def kill(self) -> None:
        self.usable = False
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
        self.close()

    def close(self) -> None:
        self.usable = False
        self.conn.close()  # an idle worker reads EOF and exits
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)


class ParsePool:
    """At most `size` workers; `parse` waits for a free one."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._free: asyncio.Semaphore | None = None  # made on first use: it belongs to the running loop
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Parses running now."""
        return len(self._busy)

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.process.pid for w in (*self._idle, *self._busy) if w.process.pid and w.process.is_alive()]

    async def start(self) -> None:
        """Start one worker now instead of at the first parse (it then waits, idle)."""
        if not self._idle and not self._busy:
            self._idle.append(await asyncio.to_thread(_Worker))

    async def parse(self, raw: bytes, max_attachment_bytes: int, budget: float) -> ParsedMessage:
        """`parse_message(raw)` in a worker. Raises ParseTimeout or WorkerLost."""
        if self._closed:
            raise PoolClosed("the parse pool is closed")
        if self._free is None:
            self._free = asyncio.Semaphore(self.size)
        async with self._free:
            if self._closed:  # closed while this call waited for a free worker
                raise PoolClosed("the parse pool is closed")
            worker = await self._take()
            self._busy.add(worker)
            try:
                return await asyncio.to_thread(worker.exchange, raw, max_attachment_bytes, budget)
            except WorkerLost as exc:
                if self._closed:  # killed by close(), not by the message
                    raise PoolClosed("the parse pool was closed during the parse") from exc
                raise
            except BaseException:
                # Timed out, died, or the caller was cancelled while the worker still parses: its
                # answer would arrive for the next caller, so this worker is never used again. (On
                # a cancel the thread then reads EOF and reaps the process.)
                worker.usable = False
                with contextlib.suppress(OSError, ValueError):
                    worker.process.kill()
                raise
            finally:
                self._busy.discard(worker)
                if worker.usable and not self._closed:
                    self._idle.append(worker)
                elif worker.usable:
                    # The pool closed meanwhile: this worker must not outlive it (close() joins it).
                    await asyncio.to_thread(worker.close)

    async def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.usable and worker.process.is_alive():
                return worker
            await asyncio.to_thread(worker.kill)
        return await asyncio.to_thread(_Worker)  # a fork from the fork server; the first call starts it

    def close(self) -> None:
        """Stop every worker (blocking, short: idle workers exit when their pipe closes)."""
        self._closed = True
        for worker in list(self._busy):  # copies: the loop thread may change them meanwhile
            worker.kill()
        for worker in list(self._idle):
            worker.close()
        self._idle.clear()

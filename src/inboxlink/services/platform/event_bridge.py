"""Timeline events between processes on PostgreSQL, with LISTEN/NOTIFY: every process forwards its
own events (`TimelineEvents.outgoing`) as NOTIFY and delivers what the others send to its local SSE
listeners. On SQLite there is one process, so there is nothing to bridge.

Best effort by design: an event only tells a page to re-read; a lost one costs a refresh, never
data. Payloads carry ids only (no mail content), well under PostgreSQL's 8000-byte NOTIFY limit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets

import psycopg
from sqlalchemy.engine import make_url

from inboxlink.services.platform.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL = "inboxlink_events"


def _conninfo(database_url: str) -> str:
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class EventBridge:
    def __init__(self, rt: Runtime, *, retry: float = 5.0) -> None:
        self.rt = rt
        self.origin = secrets.token_hex(8)
        self.retry = retry
        self._stopping = asyncio.Event()
        self.listening = asyncio.Event()  # set while LISTEN is active (tests wait on it)

    @property
    def needed(self) -> bool:
        return self.rt.engine.dialect.name == "postgresql"

    async def run(self) -> None:
        if not self.needed:
            return
        while not self._stopping.is_set():
            try:
                await self._session()
            except (psycopg.Error, OSError) as exc:
                log.warning("event bridge: %s; retrying in %.0fs", exc, self.retry)
            finally:
                self.listening.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.retry)

    async def _session(self) -> None:
        info = _conninfo(self.rt.settings.database_url)
        async with (
            await psycopg.AsyncConnection.connect(info, autocommit=True) as listen,
            await psycopg.AsyncConnection.connect(info, autocommit=True) as talk,
        ):
            await listen.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            tasks = [asyncio.create_task(self._receive(listen)), asyncio.create_task(self._send(talk))]
            stop = asyncio.create_task(self._stopping.wait())
            try:
                done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stop and task.exception():
                        raise task.exception()  # type: ignore[misc]
            finally:
                for task in (*tasks, stop):
                    task.cancel()
                await asyncio.gather(*tasks, stop, return_exceptions=True)

    async def _receive(self, conn: psycopg.AsyncConnection[object]) -> None:
        async for note in conn.notifies():
            try:
                body = json.loads(note.payload)
                if body.get("origin") != self.origin:
                    self.rt.timeline.deliver(int(body["team_id"]), dict(body["event"]))
            except (ValueError, KeyError, TypeError):
                log.warning("event bridge: ignored a malformed notification")

    async def _send(self, conn: psycopg.AsyncConnection[object]) -> None:
        queue = self.rt.timeline.outgoing
        while True:
            team_id, event = await queue.get()
            payload = json.dumps({"origin": self.origin, "team_id": team_id, "event": event})
            await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def stop(self) -> None:
        self._stopping.set()

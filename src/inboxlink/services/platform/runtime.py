"""What every use case needs: settings, the database engine, the secret box, the blob store, and the
in-process wake-ups between the API and the workers."""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from inboxlink.config import Settings
from inboxlink.domain.attempts import SlidingWindow
from inboxlink.services.platform.parse_pool import ParsePool
from inboxlink.services.platform.trust import TrustStore
from inboxlink.storage.blobs import BlobStore
from inboxlink.storage.db import create_engine
from inboxlink.storage.secretbox import SecretBox


class Clock:
    """The time every service reads through `now()`. Tests move it forward (`advance`) to see what
    happens at a later time — a scheduled send, an expired claim — instead of sleeping."""

    offset = timedelta(0)

    @classmethod
    def advance(cls, by: timedelta) -> None:
        cls.offset += by

    @classmethod
    def reset(cls) -> None:
        cls.offset = timedelta(0)


def now() -> datetime:
    return datetime.now(UTC) + Clock.offset


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """An API timestamp: ISO 8601 in UTC, or None."""
    stamp = as_utc(value)
    return stamp.isoformat() if stamp else None


class TimelineEvents:
    """Fan-out of "something was logged for team T" to live listeners (SSE). Local to the process;
    on PostgreSQL, `services.event_bridge` carries the events between processes (a reply logged
    by an `inboxlink worker` reaches the pages served by `inboxlink serve`)."""

    def __init__(self) -> None:
        self._listeners: dict[int, set[asyncio.Queue[dict[str, object]]]] = defaultdict(set)
        # Events for other processes; drained by the bridge when one runs, else bounded and dropped.
        self.outgoing: asyncio.Queue[tuple[int, dict[str, object]]] = asyncio.Queue(maxsize=1000)

    def subscribe(self, team_id: int) -> asyncio.Queue[dict[str, object]]:
        queue: asyncio.Queue[dict[str, object]] = asyncio.Queue(maxsize=100)
        self._listeners[team_id].add(queue)
        return queue

    def unsubscribe(self, team_id: int, queue: asyncio.Queue[dict[str, object]]) -> None:
        self._listeners[team_id].discard(queue)

    def publish(self, team_id: int, event: dict[str, object]) -> None:
        self.deliver(team_id, event)
        if self.outgoing.full():
            self.outgoing.get_nowait()  # nobody forwards (SQLite, or the bridge is down): keep the newest
        self.outgoing.put_nowait((team_id, event))

    def deliver(self, team_id: int, event: dict[str, object]) -> None:
        """To this process's listeners only (the bridge's entry for events from elsewhere)."""
        for queue in list(self._listeners.get(team_id, ())):
            if not queue.full():
                queue.put_nowait(event)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    box: SecretBox
    blobs: BlobStore
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    inboxes_changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Something was queued for the job runner (services.platform.jobs); it also polls.
    jobs_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    timeline: TimelineEvents = field(default_factory=TimelineEvents)
    # Worker processes for parsing mail from outside (services.platform.mail_parsing); lazy.
    parser: ParsePool = field(default_factory=ParsePool)
    # Mail-server connect attempts per user (services.accounts.inboxes): in memory, per process,
    # like the sign-in throttle; the API and the web forms run in the one `serve` process.
    connect_attempts: SlidingWindow = field(default_factory=lambda: SlidingWindow(10, 600.0))
    # Threads of the BCC listener's DKIM/SPF checks (services.mail.sender_auth): their own, so slow
    # DNS never holds the default executor; no thread starts before the first check.
    checks: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="inboxlink-verify")
    )
    # The shared TLS context (services.platform.trust): one per CA bundle, not one per connection.
    trust: TrustStore = field(default_factory=TrustStore)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        box = SecretBox.load(settings.secret_key, settings.data_dir)
        return cls(
            settings=settings,
            engine=create_engine(settings.database_url),
            box=box,
            blobs=BlobStore(settings.attachments_dir, box),
        )

    def ssl_context(self) -> ssl.SSLContext:
        # Shared by every connection; rebuilt when SSL_CERT_FILE (or its contents) changes.
        return self.trust.context()

    def https_context(self) -> ssl.SSLContext:
        # Its own: httpx sets ALPN ("http/1.1") on the context it gets, which mail servers must not see.
        return self.trust.context("https")

    async def close(self) -> None:
        await asyncio.to_thread(self.parser.close)
        # A check cut off by its time limit may still wait on DNS: do not wait for it on the way out.
        self.checks.shutdown(wait=False, cancel_futures=True)
        await self.engine.dispose()

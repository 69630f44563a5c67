"""Runs the long-lived parts in one asyncio loop: HTTP (uvicorn), the send worker, the inbox monitors
and the BCC listener. SIGTERM/SIGINT stop everything cleanly: in-flight work is finished or handed
back (a send in progress completes; monitors leave their cursors where the last commit put them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator

import uvicorn

from inboxlink.api.app import create_app
from inboxlink.api.metrics_route import metrics_app
from inboxlink.bcc import BccListener
from inboxlink.config import Settings
from inboxlink.services.accounts import webhook_delivery  # noqa: F401  (registers its job handler)
from inboxlink.services.crm import search_backfill
from inboxlink.services.mail import (
    scheduled,  # noqa: F401  (registers its job handler)
    sequence_runs,  # noqa: F401  (registers its job handler)
)
from inboxlink.services.platform import events as platform_events
from inboxlink.services.platform.event_bridge import EventBridge
from inboxlink.services.platform.jobs import JobRunner
from inboxlink.services.platform.keys import check_key
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.db import migrate
from inboxlink.sync.outbox_worker import OutboxWorker
from inboxlink.sync.privacy_tasks import PrivacyTasks
from inboxlink.sync.supervisor import Supervisor

log = logging.getLogger("inboxlink")

STOP_GRACE = 8.0  # seconds; the issue asks for an exit within 10 s of SIGTERM


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # We own the signals (one handler stops every part), so uvicorn must not take them.
        yield


async def run(settings: Settings, *, http: bool = True, bcc: bool = True) -> None:
    await asyncio.to_thread(migrate, settings.database_url)
    rt = Runtime.create(settings)
    try:
        await check_key(rt)  # a host with a key of its own must not start (issue 12 item 5)
    except BaseException:
        await rt.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    stoppers: list[Callable[[], None]] = []
    tasks: list[asyncio.Task[None]] = []

    def start(coro: Awaitable[None], stopper: Callable[[], None], name: str) -> None:
        tasks.append(asyncio.create_task(coro, name=name))  # type: ignore[arg-type]
        stoppers.append(stopper)

    outbox = OutboxWorker(rt)
    start(outbox.run(), outbox.stop, "outbox")
    # Durable jobs (webhook deliveries, event pruning): in every process, claimed by one of them.
    await platform_events.schedule_prune(rt)
    await search_backfill.schedule_backfill(rt)  # emails logged before the search index existed
    job_runner = JobRunner(rt)
    start(job_runner.run(), job_runner.stop, "jobs")
    for extra in _optional_parts(rt, bcc=bcc):
        start(*extra)
    if http:
        config = uvicorn.Config(
            create_app(rt),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            lifespan="off",
            # Open live-update streams (SSE) must not hold the stop beyond the grace period.
            timeout_graceful_shutdown=3,
            # X-Forwarded-For only from configured proxies (none by default).
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or None,
        )
        srv = _Server(config)
        start(srv.serve(), lambda: setattr(srv, "should_exit", True), "http")
        log.info("inboxlink listening on http://%s:%d", settings.http_host, settings.http_port)
    elif settings.metrics_http is not None:
        # A worker has no API; an operator scrapes its own counters (leases, IDLE, replies) here.
        host, port = settings.metrics_http
        metrics_srv = _Server(
            uvicorn.Config(metrics_app(rt), host=host, port=port, log_level="warning", lifespan="off")
        )
        start(metrics_srv.serve(), lambda: setattr(metrics_srv, "should_exit", True), "metrics")
        log.info("inboxlink metrics on http://%s:%d/metrics", host, port)

    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception():
            log.error("%s stopped: %r", task.get_name(), task.exception())
    log.info("stopping")
    for stopper in stoppers:
        stopper()
    _done, pending = await asyncio.wait(tasks, timeout=STOP_GRACE)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    waiter.cancel()
    await rt.close()


def _optional_parts(rt: Runtime, *, bcc: bool) -> list[tuple[Awaitable[None], Callable[[], None], str]]:
    """The inbox monitors, and the BCC logging listener unless it is switched off."""
    supervisor = Supervisor(rt)
    parts: list[tuple[Awaitable[None], Callable[[], None], str]] = [
        (supervisor.run(), supervisor.stop, "monitors")
    ]
    housekeeping = PrivacyTasks(rt)
    parts.append((housekeeping.run(), housekeeping.stop, "privacy"))
    bridge = EventBridge(rt)
    if bridge.needed:
        parts.append((bridge.run(), bridge.stop, "events"))
    if bcc and rt.settings.bcc_smtp is not None:
        listener = BccListener(rt)
        parts.append((listener.run(), listener.stop, "bcc"))
    return parts

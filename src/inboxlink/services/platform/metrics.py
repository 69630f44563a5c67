"""The process's Prometheus metrics, in one registry of its own (not the library's global one, so
tests and embedded uses do not collide). Other parts add their counters here: define them at module
level below and import this module where they move. Served by `GET /metrics` (api.app) in the
text format; what a scrape reads from the database (inboxes by status) is set just before."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from inboxlink.imap.transport import COMMANDS
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.tables import inboxes

REGISTRY = CollectorRegistry(auto_describe=True)

INBOXES = Gauge("inboxlink_inboxes", "Inboxes by status", ["status"], registry=REGISTRY)
IDLE_SESSIONS = Gauge(
    "inboxlink_idle_sessions", "IMAP sessions of this process waiting in IDLE now", registry=REGISTRY
)
MONITORS = Gauge("inboxlink_monitors", "Inbox monitors running in this process", registry=REGISTRY)
REPLIES_LOGGED = Counter(
    "inboxlink_replies_logged", "Matched messages logged by this process", ["direction"], registry=REGISTRY
)
REPLY_LOG_SECONDS = Histogram(
    "inboxlink_reply_log_seconds",
    "From the header FETCH that found a matching message to its logged commit",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
SENDS = Counter("inboxlink_sends", "Send attempts by outcome", ["outcome"], registry=REGISTRY)
LEASE_CLAIMS = Counter("inboxlink_lease_claims", "Inbox leases won by this process", registry=REGISTRY)
LEASE_LOSSES = Counter(
    "inboxlink_lease_losses", "Inbox leases this process found taken by another worker", registry=REGISTRY
)
LEASE_RELEASES = Counter(
    "inboxlink_lease_releases", "Inbox leases given back (fair share, stop)", registry=REGISTRY
)
FENCED_WRITES = Counter(
    "inboxlink_fenced_writes", "Monitor writes refused because the lease was stale", registry=REGISTRY
)


class _ImapCommands(Collector):
    """The IMAP layer's plain counters (imap.transport.COMMANDS), read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "inboxlink_imap_commands", "IMAP commands sent by this process", labels=["command"]
        )
        fetched = CounterMetricFamily(
            "inboxlink_imap_fetched_messages", "Messages received in FETCH responses"
        )
        for name, count in sorted(COMMANDS.items()):
            if name == "FETCH responses":
                fetched.add_metric([], count)
            else:
                family.add_metric([name], count)
        yield family
        yield fetched


REGISTRY.register(_ImapCommands())


async def scrape(rt: Runtime) -> bytes:
    """The text exposition; the inbox counts come from the database (the same for every process)."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            select(inboxes.c.status, func.count())
            .where(inboxes.c.deleted_at.is_(None))
            .group_by(inboxes.c.status)
        )
        counts = {status: int(n) for status, n in rows}
    for status in ("connected", "disconnected", *counts):
        INBOXES.labels(status).set(counts.get(status, 0))
    return generate_latest(REGISTRY)

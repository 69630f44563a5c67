"""Reply latency: delivery of a reply → the reply visible through the API, for N monitored inboxes,
per IMAP server.

    .venv/bin/python bench/reply_latency.py [--server dovecot|courier|cyrus ...] [--inboxes 50] [--idle-samples 20]

`--server` (repeatable; default dovecot) picks the servers; Dovecot always runs too, first, so every
other server's figures come with their ratio to Dovecot's from the same run and machine. Courier
and Cyrus are unpacked from Debian packages (tests/peers/unpacked.py); a server that cannot be had
is reported and left out. Mail arrives the way each server gets it from an MTA: LMTP for Dovecot
and Cyrus (its idled pushes to IDLE), a maildir delivery for Courier (gamin pushes).

For each server: starts it and a provider SMTP (tests/peers) in a temp dir and runs inboxlink in-process
(tests/support/app.running_app: the send worker, the monitor supervisor, an httpx client on the
ASGI app). Then, all through the API: connect N inboxes, send one CRM email from each, wait until
every monitor is connected and idle, and deliver one reply per inbox over LMTP, one every 100–200 ms
(a latency measurement, not a thundering herd). Per reply: from "LMTP DATA answered" to "GET
/api/v1/contacts/{id}/emails lists it". The wait is event-driven (rt.timeline, published after the
commit) and every figure is confirmed by that GET; a slow safety poll catches a missed event.

In the same run, on the same server, a raw IMAP connection idles on a user of its own and times
delivery → `* n EXISTS`: the server's own push time, the floor under every reply (Dovecot: ~0.5 s,
its inotify batching). Printed: p50/p90/max of both and the ratio to the goals (p50 ≤ 1.0 s, p90 ≤
2.5 s), then a table of p50/p95 per server with the ratio to Dovecot's. Always exits 0: it is a
benchmark, not a test.

IDLE push rides on inotify, counted per uid (Dovecot's mail uid 5000, shared by every Dovecot on the
machine). With `fs.inotify.max_user_instances` exhausted Dovecot silently polls every 30 s; this
script prints the limit and what is in use, and as root raises it to 1024 (`--no-sysctl` to leave
it alone) when the run would not fit under it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Any

from bench import servers
from bench.harness import Conversation, check_inotify, set_up_conversations
from tests.peers.provider_smtp import ProviderSmtp
from tests.support.app import TestUser, running_app
from tests.support.replies import make_reply

GOAL_P50, GOAL_P90 = 1.0, 2.5  # seconds
PROBE_USER, PROBE_PASSWORD = "idle-probe@example.test", "idle-probe-password"
REPLY_TIMEOUT = 45.0  # beyond Dovecot's 30 s poll fallback, so a lost push still shows as a figure
SAFETY_POLL = 0.25  # seconds between API checks while no timeline event has come


# ---- figures ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def p50_p95(values: list[float]) -> tuple[float, float] | None:
    return (percentile(values, 0.5), percentile(values, 0.95)) if values else None


def summary(values: list[float]) -> tuple[float, float, float]:
    return percentile(values, 0.5), percentile(values, 0.9), max(values)


def report(title: str, values: list[float], *, goals: bool) -> None:
    if not values:
        print(f"{title}: no samples")
        return
    p50, p90, top = summary(values)
    print(f"{title} ({len(values)} samples)")
    if goals:
        print(f"  p50 {p50:5.2f} s = {p50 / GOAL_P50:4.2f}x the {GOAL_P50:.1f} s limit")
        print(f"  p90 {p90:5.2f} s = {p90 / GOAL_P90:4.2f}x the {GOAL_P90:.1f} s limit")
        print(f"  max {top:5.2f} s   min {min(values):5.2f} s")
    else:
        print(f"  p50 {p50:5.2f} s   p90 {p90:5.2f} s   max {top:5.2f} s   min {min(values):5.2f} s")


# ---- waiting for replies ------------------------------------------------------------------------


async def dispatch_events(
    queue: asyncio.Queue[dict[str, object]], by_thread: dict[int, Conversation]
) -> None:
    while True:
        event = await queue.get()
        thread_id = event.get("thread_id")
        conv = by_thread.get(thread_id) if isinstance(thread_id, int) else None
        if event.get("type") == "email" and conv is not None and event.get("email_id") != conv.sent_id:
            if conv.logged is None:
                conv.logged = time.monotonic()
            conv.event.set()


async def await_visible(user: TestUser, conv: Conversation, delivered: asyncio.Event) -> None:
    """Wait for the reply to show up on the contact's timeline, as an API client sees it."""
    await delivered.wait()
    deadline = conv.delivered + REPLY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(conv.event.wait(), SAFETY_POLL)
            woken = True
        except TimeoutError:
            woken = False
        # Cleared before asking: an event that lands while the GET is under way wakes the next round.
        conv.event.clear()
        items = (await user.get(f"/api/v1/contacts/{conv.contact_id}/emails")).json()["items"]
        if any(e["message_id"] == conv.reply_id for e in items):
            conv.visible = time.monotonic()
            conv.via_event = woken
            return


async def deliver_replies(user: TestUser, server: Any, convs: list[Conversation]) -> None:
    waiters = []
    for conv in convs:
        delivered = asyncio.Event()
        waiters.append(asyncio.create_task(await_visible(user, conv, delivered)))
        conv.reply_id, raw = make_reply(
            sender=f"Client {conv.index} <{conv.client}>",
            to=conv.mailbox,
            subject=f"Re: Our offer #{conv.index}",
            text="Sounds good, let's talk on Monday.",
            in_reply_to=conv.message_id,
            references=[conv.message_id],
        )
        conv.delivered = await asyncio.to_thread(_deliver_timed, server, conv.mailbox, raw, conv.client)
        delivered.set()
        await asyncio.sleep(random.uniform(0.1, 0.2))
    await asyncio.gather(*waiters)


def _deliver_timed(server: Any, rcpt: str, raw: bytes, sender: str) -> float:
    server.deliver(rcpt, raw, mail_from=sender)
    return time.monotonic()


# ---- Dovecot's own push time --------------------------------------------------------------------


async def idle_push_samples(server: Any, count: int) -> list[float]:
    """A raw IMAP connection in IDLE on its own user: LMTP delivery answered → `* n EXISTS` read."""
    await asyncio.to_thread(server.add_user, PROBE_USER, PROBE_PASSWORD, ())
    reader, writer = await asyncio.open_connection(server.host, server.imap_port)
    arrivals: asyncio.Queue[float] = asyncio.Queue()

    async def until(prefix: bytes) -> None:
        while not (line := await asyncio.wait_for(reader.readline(), 30)).startswith(prefix):
            if not line:
                raise ConnectionError("the server closed the probe connection")

    async def stamp_exists() -> None:
        while line := await reader.readline():
            if line.rstrip().endswith(b"EXISTS"):
                arrivals.put_nowait(time.monotonic())

    samples: list[float] = []
    try:
        await until(b"* OK")
        writer.write(f'a1 LOGIN "{PROBE_USER}" "{PROBE_PASSWORD}"\r\n'.encode())
        await until(b"a1 OK")
        writer.write(b"a2 EXAMINE INBOX\r\na3 IDLE\r\n")
        await until(b"a2 OK")
        await until(b"+")
        stamper = asyncio.create_task(stamp_exists())
        for i in range(count):
            _id, raw = make_reply(
                sender="someone@elsewhere.test", to=PROBE_USER, subject=f"push {i}", text="ping"
            )
            delivered = await asyncio.to_thread(
                _deliver_timed, server, PROBE_USER, raw, "someone@elsewhere.test"
            )
            try:
                seen = await asyncio.wait_for(arrivals.get(), REPLY_TIMEOUT)
            except TimeoutError:
                print(f"  IDLE probe: no EXISTS within {REPLY_TIMEOUT:.0f} s for delivery {i}")
                continue
            samples.append(max(0.0, seen - delivered))
            await asyncio.sleep(random.uniform(0.2, 0.4))  # past Dovecot's 0.5 s batching window
            while not arrivals.empty():  # a second EXISTS for one delivery is not the next one's
                arrivals.get_nowait()
        stamper.cancel()
        writer.write(b"DONE\r\na4 LOGOUT\r\n")
        await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return samples


# ---- main ---------------------------------------------------------------------------------------


async def run(
    server: Any, provider: ProviderSmtp, data_dir: Path, args: argparse.Namespace
) -> dict[str, list[float]]:
    name = getattr(server, "name", "dovecot")  # MailServer (Dovecot) has no name
    async with running_app(data_dir) as app:
        user = await app.user("seller@crm.test")
        print(f"setting up {args.inboxes} conversations:")
        convs = await set_up_conversations(app, user, server, provider, args.inboxes)

        by_thread = {c.thread_id: c for c in convs}
        queue = app.rt.timeline.subscribe(user.caller.team_id)
        dispatcher = asyncio.create_task(dispatch_events(queue, by_thread))
        print(f"delivering {len(convs)} replies, one every 100-200 ms ...")
        started = time.monotonic()
        await deliver_replies(user, server, convs)
        dispatcher.cancel()
        app.rt.timeline.unsubscribe(user.caller.team_id, queue)
        print(f"  done in {time.monotonic() - started:.1f} s")

        print(f"measuring {name}'s own IDLE push ({args.idle_samples} deliveries to {PROBE_USER}) ...")
        pushes = await idle_push_samples(server, args.idle_samples)

    visible = [c.visible - c.delivered for c in convs if c.visible is not None]
    logged = [c.logged - c.delivered for c in convs if c.logged is not None]
    missing = [c.inbox_id for c in convs if c.visible is None]
    by_poll = sum(1 for c in convs if c.visible is not None and not c.via_event)
    no_event = sum(1 for c in convs if c.visible is not None and c.logged is None)

    print()
    report(
        f"{name}: reply delivered → visible through GET /api/v1/contacts/{{id}}/emails", visible, goals=True
    )
    if missing:
        print(f"  NOT VISIBLE within {REPLY_TIMEOUT:.0f} s: {len(missing)} replies (inboxes {missing})")
    if by_poll:
        print(
            f"  {by_poll} replies were first seen by the {SAFETY_POLL} s safety poll rather than on their "
            "timeline event (the same GET confirms both)"
        )
    if no_event:
        print(f"  {no_event} replies became visible without any timeline event: a missed publish?")
    report("reply delivered → logged (timeline event after the commit)", logged, goals=False)
    report(f"{name} IDLE push: delivered → `* n EXISTS` on a raw connection", pushes, goals=False)
    if visible and pushes and summary(pushes)[0] > 0:
        own = summary(visible)[0] - summary(pushes)[0]
        print(
            f"\ninboxlink's own share at p50: {own * 1000:.0f} ms on top of {name}'s "
            f"{summary(pushes)[0] * 1000:.0f} ms push (reply p50 = {summary(visible)[0] / summary(pushes)[0]:.2f}x "
            "the IDLE floor)"
        )
    return {"visible": visible, "logged": logged, "push": pushes}


def compare(figures: dict[str, dict[str, list[float]]]) -> None:
    """p50/p95 per server and each one's ratio to Dovecot's (same run, same machine)."""
    print("\n==== per server: p50 / p95 (seconds), and the ratio to Dovecot's ====")
    base = figures.get("dovecot")
    for kind, title in (
        ("logged", "delivered → logged"),
        ("visible", "delivered → visible"),
        ("push", "IDLE push"),
    ):
        print(f"{title}:")
        for name, result in figures.items():
            mine = p50_p95(result[kind])
            if mine is None:
                print(f"  {name:8s} no samples")
                continue
            ref = p50_p95(base[kind]) if base else None
            ratio = (
                f"   = {mine[0] / ref[0]:5.2f}x / {mine[1] / ref[1]:5.2f}x Dovecot's"
                if ref and ref[0] and ref[1]
                else ""
            )
            print(f"  {name:8s} p50 {mine[0]:6.3f}  p95 {mine[1]:6.3f}  ({len(result[kind])} samples){ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--inboxes", type=int, default=50, help="monitored inboxes, one reply each (default 50)"
    )
    parser.add_argument("--idle-samples", type=int, default=20, help="raw IDLE push samples (default 20)")
    parser.add_argument(
        "--server", action="append", choices=servers.NAMES, default=[],
        help="an IMAP server to measure (repeatable; Dovecot always runs too, for the ratio)",
    )  # fmt: skip
    parser.add_argument("--no-sysctl", action="store_true", help="never change fs.inotify.max_user_instances")
    args = parser.parse_args()
    # Monitors log their retries as warnings; keep those, drop the chatter.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # each monitor's IDLE session, the probe's, plus sessions the send worker opens briefly
    check_inotify(args.inboxes + 5, not args.no_sysctl)
    figures: dict[str, dict[str, list[float]]] = {}
    for name in dict.fromkeys(["dovecot", *args.server]):
        print(f"\n==== {name} ====")
        reason = servers.unavailable(name)
        if reason:
            print(f"{name}: left out: {reason}")
            continue
        result = servers.with_server(
            name,
            f"inboxlink-latency-{name}-",
            lambda server, provider, data: run(server, provider, data, args),
        )
        if result is not None:
            figures[name] = result
    compare(figures)


if __name__ == "__main__":
    main()

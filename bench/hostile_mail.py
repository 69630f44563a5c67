"""Hostile mail: does the API keep answering while the worst replies are logged? (issue 9, finding 1)

    .venv/bin/python bench/hostile_mail.py [--parse-in process|thread|loop] [--only NAME ...]

Starts its own Dovecot and provider SMTP (tests/peers), runs inboxlink in-process behind a real
uvicorn on a loopback port (tests/support/web.served), connects two inboxes through the API and
sends one CRM email from each. Then, one at a time, it delivers the worst replies to the first
inbox over LMTP (tests/support/hostile.py):

* `parts`  — 100,000 one-byte attachment parts (~10 MB)
* `html`   — a 17 MB HTML body
* `cc`     — 40,000 addresses in Cc (~790 KB)
* `bcc`    — the same 100,000-part body (~10 MB), from the user to the BCC logging listener

and while each is processed a thread polls `GET /api/v1/me` every 50 ms over HTTP, as a teammate's
browser would. Printed per reply: p50 and max latency of those requests and the max's ratio to the
1 s limit ("well under a second"), the time from delivery until the reply is listed by the API
(for `bcc`: until the listener answered 250), the rows and files it left, and the contact page's
render time and size. During `parts` a normal reply to the *second* inbox is delivered too: its
time to be logged and its inbox's last error show whether other monitors were held up (on main:
"database is locked").

`--parse-in` picks where parsing runs: `process` (the product: services.platform.parse_pool),
`thread` (asyncio.to_thread, no budget) or `loop` (inline, as before issue 9 — the caps still
apply). The comparison is the reason the product uses processes (docs/architecture.md). Always
exits 0: it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import smtplib
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Conversation, set_up_conversations, until, with_peers
from inboxlink.bcc import BccListener
from inboxlink.domain.models import ParsedMessage
from inboxlink.mime.parse import parse_message
from inboxlink.services.platform.parse_pool import ParsePool
from tests.peers.dovecot import MailServer
from tests.peers.provider_smtp import ProviderSmtp
from tests.support.app import TestApp, TestUser, running_app
from tests.support.hostile import big_html, many_cc, many_parts
from tests.support.replies import make_reply
from tests.support.web import served, sign_in

LIMIT = 1.0  # seconds: "the API must keep answering in well under a second"
POLL = 0.05
LOGIN = "seller@crm.test"


# ---- where parsing runs -------------------------------------------------------------------------


class ThreadParse(ParsePool):
    async def parse(self, raw: bytes, max_attachment_bytes: int, budget: float) -> ParsedMessage:
        return await asyncio.to_thread(parse_message, raw, max_attachment_bytes=max_attachment_bytes)


class LoopParse(ParsePool):
    async def parse(self, raw: bytes, max_attachment_bytes: int, budget: float) -> ParsedMessage:
        return parse_message(raw, max_attachment_bytes=max_attachment_bytes)


# ---- the teammate polling /me -------------------------------------------------------------------


class Poller(threading.Thread):
    """GET /api/v1/me every 50 ms from its own thread (a client outside the app's loop)."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        self.samples: list[tuple[float, float]] = []  # (started, seconds)
        self.errors = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            started = time.monotonic()
            try:
                ok = self.client.get("/api/v1/me").status_code == 200
            except httpx.HTTPError:
                ok = False
            took = time.monotonic() - started
            self.samples.append((started, took))
            self.errors += not ok
            self.halt.wait(max(0.0, POLL - took))

    def between(self, start: float, end: float) -> list[float]:
        return [
            took for began, took in self.samples if start <= began <= end or began <= start <= began + took
        ]


def figures(title: str, values: list[float]) -> None:
    if not values:
        print(f"  {title}: no samples")
        return
    p50, top = statistics.median(values), max(values)
    print(
        f"  {title}: {len(values)} requests, p50 {p50 * 1000:.0f} ms, max {top * 1000:.0f} ms "
        f"= {top / LIMIT:.2f}x the {LIMIT:.0f} s limit"
    )


# ---- one hostile message ------------------------------------------------------------------------


async def listed(user: TestUser, contact_id: int, message_id: str) -> bool:
    items = (await user.get(f"/api/v1/contacts/{contact_id}/emails", params={"limit": 5})).json()["items"]
    return any(e["message_id"] == message_id for e in items)


async def stored(app: TestApp) -> tuple[int, int]:
    """(attachment rows, contact rows) in the database; blob files on disk."""
    from sqlalchemy import func, select

    from inboxlink.storage.tables import attachments, contacts

    async with app.rt.engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(attachments))
        people = await conn.scalar(select(func.count()).select_from(contacts))
    return int(rows or 0), int(people or 0)


def blob_files(app: TestApp) -> int:
    root = app.data_dir / "attachments"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


async def page_render(base: str, contact_id: int) -> tuple[list[float], int]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as web:
        await sign_in(web, LOGIN)
        times, size = [], 0
        for _ in range(3):
            started = time.monotonic()
            resp = await web.get(f"/contacts/{contact_id}")
            times.append(time.monotonic() - started)
            size = len(resp.content)
    return times, size


async def attack(
    name: str,
    app: TestApp,
    user: TestUser,
    server: MailServer,
    base: str,
    victim: Conversation,
    other: Conversation | None,
    bcc_port: int | None,
) -> None:
    if name == "parts":
        message_id, raw = many_parts(f"Client <{victim.client}>", victim.mailbox, victim.message_id)
    elif name == "html":
        message_id, raw = big_html(f"Client <{victim.client}>", victim.mailbox, victim.message_id)
    elif name == "cc":
        message_id, raw = many_cc(f"Client <{victim.client}>", victim.mailbox, victim.message_id)
    else:  # bcc: the user's own mail to a client, with the logging address in Bcc
        message_id, raw = many_parts(LOGIN, victim.client, victim.message_id)
    print(f"\n{name}: {len(raw) / 1e6:.1f} MB")
    rows_before, people_before = await stored(app)
    files_before = blob_files(app)
    poller = Poller(base, user.token)
    poller.start()
    await asyncio.sleep(0.5)  # a few quiet samples first
    started = time.monotonic()
    other_id = ""
    if name == "bcc":
        assert bcc_port is not None
        address = f"{user.caller.bcc_token}@bcc.localhost"
        await asyncio.to_thread(_smtp, bcc_port, LOGIN, address, raw)
        done = time.monotonic()
        what = "BCC listener answered 250"
    else:
        await asyncio.to_thread(server.deliver, victim.mailbox, raw, victim.client)
        delivered = time.monotonic()
        if other is not None:
            other_id, other_raw = make_reply(
                sender=other.client,
                to=other.mailbox,
                subject="Re: Our offer",
                text="normal",
                in_reply_to=other.message_id,
            )
            await asyncio.to_thread(server.deliver, other.mailbox, other_raw, other.client)
        done = await until(lambda: listed(user, victim.contact_id, message_id), 0.1, name, timeout=300)
        what = f"LMTP delivery answered after {delivered - started:.1f} s; reply listed by the API"
        started = delivered
    poller.halt.set()
    await asyncio.to_thread(poller.join)  # not join() here: its last request needs this loop to answer
    print(f"  {what}: {done - started:.2f} s after delivery")
    figures("GET /api/v1/me while it was processed", poller.between(started, done))
    if poller.errors:
        print(f"  {poller.errors} of those requests failed")
    if other is not None and other_id:
        other_done = await until(
            lambda: listed(user, other.contact_id, other_id), 0.1, "other inbox", timeout=120
        )
        state = (await user.get(f"/api/v1/inboxes/{other.inbox_id}")).json()
        print(
            f"  the other inbox logged its normal reply {other_done - started:.2f} s after the hostile "
            f"delivery; its last error: {state['last_error']!r}"
        )
    rows, people = await stored(app)
    print(
        f"  left behind: {rows - rows_before} attachment rows, {blob_files(app) - files_before} blob files, "
        f"{people - people_before} new contacts"
    )
    times, size = await page_render(base, victim.contact_id)
    print(
        f"  contact page: {size / 1e6:.2f} MB, rendered in {min(times) * 1000:.0f}-{max(times) * 1000:.0f} ms "
        f"(3 views) = {max(times) / LIMIT:.2f}x the {LIMIT:.0f} s limit"
    )


def _smtp(port: int, mail_from: str, rcpt: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
        client.sendmail(mail_from, [rcpt], raw)


# ---- main ---------------------------------------------------------------------------------------


async def run(server: MailServer, provider: ProviderSmtp, data_dir: Path, args: argparse.Namespace) -> None:
    async with running_app(data_dir) as app:
        if args.parse_in == "thread":
            app.rt.parser = ThreadParse()
        elif args.parse_in == "loop":
            app.rt.parser = LoopParse()
        user = await app.user(LOGIN)
        print("setting up 2 conversations:")
        victim, other = await set_up_conversations(app, user, server, provider, 2)
        listener = BccListener(app.rt, ("127.0.0.1", 0))
        await listener.start()
        try:
            async with served(app) as base:
                for name in args.only:
                    await attack(
                        name,
                        app,
                        user,
                        server,
                        base,
                        victim,
                        other if name == "parts" else None,
                        listener.port,
                    )
        finally:
            listener.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parse-in", choices=["process", "thread", "loop"], default="process")
    parser.add_argument(
        "--only", nargs="+", choices=["parts", "html", "cc", "bcc"], default=["parts", "html", "cc", "bcc"]
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"parsing in: {args.parse_in}; {os.cpu_count()} cores")
    with_peers("inboxlink-hostile-", lambda server, provider, data: run(server, provider, data, args))


if __name__ == "__main__":
    main()

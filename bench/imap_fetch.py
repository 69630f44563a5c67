"""Header-scan throughput: inboxlink.imap vs stdlib imaplib vs a raw asyncio socket, same Dovecot.

    .venv/bin/python bench/imap_fetch.py [--messages N] [--rounds R]

Starts a private Dovecot (tests/peers), writes N small messages straight into the user's maildir
before the first IMAP access (much faster than LMTP), lets Dovecot index them with one cold fetch,
then times the warm `UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (...)])` the sync worker runs.
"Raw socket" reads the same response without parsing anything: the practical ceiling, measured in
the same run. ARCHITECTURE.md's figure for it was ~111k msgs/s (2-core box, 100k messages).
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inboxlink.imap import ImapClient
from tests.peers.dovecot import MAIL_GID, MAIL_UID, MailServer, start_mail_server

USER, PASSWORD = "bench@example.test", "bench-password"
FIELDS = ("MESSAGE-ID", "IN-REPLY-TO", "REFERENCES", "FROM", "TO", "CC", "SUBJECT", "DATE")
ITEMS = f"(UID FLAGS BODY.PEEK[HEADER.FIELDS ({' '.join(FIELDS)})])"
DOC_RAW_LIMIT = 111_000  # msgs/s, ARCHITECTURE.md


def write_maildir(server: MailServer, count: int) -> None:
    """Messages as Dovecot would have stored them (LF endings, S=/W= sizes in the file name)."""
    local, domain = USER.split("@")
    home = server.directory / "mail" / domain / local
    maildir = home / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    stamp = int(time.time()) - count
    for i in range(count):
        text = (
            f"Return-Path: <sender{i % 50}@example.org>\n"
            f"Message-ID: <bench-{i}@example.org>\n"
            + (
                f"In-Reply-To: <bench-{i - 1}@example.org>\nReferences: <bench-{i - 1}@example.org>\n"
                if i % 3
                else ""
            )
            + f"From: Sender {i % 50} <sender{i % 50}@example.org>\n"
            f"To: {USER}\nSubject: Quarterly numbers, thread {i // 3}\n"
            f"Date: Mon, 04 Mar 2024 10:{i % 60:02d}:00 +0000\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\n"
            f"Hello,\n\nthis is message {i}. " + "Some body text. " * 20 + "\n"
        ).encode()
        vsize = len(text) + text.count(b"\n")
        flags = "S" if i % 2 else ""  # half already read: the fetch must leave both kinds alone
        name = f"{stamp + i}.M{i}P{os.getpid()}.bench,S={len(text)},W={vsize}:2,{flags}"
        (maildir / "cur" / name).write_bytes(text)
    for path in [home.parent, home, *home.rglob("*")]:
        os.chown(path, MAIL_UID, MAIL_GID)


async def ours(server: MailServer, count: int) -> int:
    async with await ImapClient.connect(server.host, server.imap_port, "none") as client:
        await client.login(USER, PASSWORD)
        await client.select("INBOX", readonly=True)
        msgs = await client.fetch_headers("1:*", FIELDS)
    assert len(msgs) == count and msgs[-1].header, "incomplete fetch"
    return len(msgs)


async def raw_socket(server: MailServer, count: int) -> int:
    """Same bytes over the same kind of connection, counted but not parsed."""
    reader, writer = await asyncio.open_connection(server.host, server.imap_port, limit=1 << 22)
    await reader.readline()
    writer.write(f'a1 LOGIN "{USER}" "{PASSWORD}"\r\na2 EXAMINE INBOX\r\n'.encode())
    while not (await reader.readline()).startswith(b"a2 "):
        pass
    writer.write(f"a3 UID FETCH 1:* {ITEMS}\r\n".encode())
    tail = b""
    while True:
        data = await reader.read(1 << 18)
        if not data:
            raise RuntimeError("connection closed")
        tail = (tail + data)[-512:]
        if b"\na3 OK" in tail and tail.endswith(b"\r\n"):
            break
    writer.write(b"a4 LOGOUT\r\n")
    writer.close()
    return count


def stdlib_imaplib(server: MailServer, count: int) -> int:
    conn = imaplib.IMAP4(server.host, server.imap_port)
    conn.login(USER, PASSWORD)
    conn.select("INBOX", readonly=True)
    typ, data = conn.uid("FETCH", "1:*", ITEMS)
    conn.logout()
    got = sum(1 for item in data if isinstance(item, tuple))
    assert typ == "OK" and got == count, (typ, got)
    return got


def timed(run: Callable[[], object]) -> float:
    """Seconds for one run; a coroutine result is run on a fresh event loop."""
    started = time.perf_counter()
    result = run()
    if isinstance(result, Coroutine):
        asyncio.run(result)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    n = args.messages

    base = Path(tempfile.mkdtemp(prefix="inboxlink-bench-"))
    server = start_mail_server(base)
    try:
        server.add_user(USER, PASSWORD, folders=())
        started = time.perf_counter()
        write_maildir(server, n)
        print(f"wrote {n} messages into the maildir in {time.perf_counter() - started:.1f} s")
        cold = timed(lambda: ours(server, n))  # Dovecot builds its index and cache here
        print(f"cold first fetch (Dovecot indexing): {cold:.2f} s ({n / cold:,.0f} msgs/s)")

        contenders: dict[str, Callable[[], object]] = {
            "raw asyncio socket (no parsing)": lambda: raw_socket(server, n),
            "inboxlink.imap fetch_headers": lambda: ours(server, n),
            "stdlib imaplib (unparsed tuples)": lambda: stdlib_imaplib(server, n),
        }
        # interleaved rounds, so a noisy neighbour slows every contender alike
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, run in contenders.items():
                samples[name].append(timed(run))
        results = {name: statistics.median(times) for name, times in samples.items()}
        raw = n / results["raw asyncio socket (no parsing)"]
        print(f"\nwarm header fetch of {n} messages, median of {args.rounds} (incl. connect+login+EXAMINE):")
        for name, seconds in results.items():
            rate = n / seconds
            print(
                f"  {name:34s} {seconds:6.3f} s {rate:10,.0f} msgs/s   "
                f"{rate / raw:5.0%} of raw this run   {rate / DOC_RAW_LIMIT:5.0%} of the documented ~111k/s"
            )
        ratio = results["stdlib imaplib (unparsed tuples)"] / results["inboxlink.imap fetch_headers"]
        print(f"\ninboxlink.imap is {ratio:.2f}x stdlib imaplib (which returns raw bytes, no typed results)")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

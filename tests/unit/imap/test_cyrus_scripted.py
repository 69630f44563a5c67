"""Cyrus IMAP 3.6's behaviour as a byte-scripted TLS server (the real one runs in
tests/integration/test_interop_peers.py): in IDLE it reads only for DONE, so a TLS close_notify
from a client that abandons its IDLE is never answered and the connection stays open. A monitor
that stops (shutdown, an inbox handed to another worker) must not wait on that.

The server is a thread with a blocking ssl socket, not asyncio's: asyncio's TLS answers a
close_notify by itself, which is exactly what Cyrus does not do."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from inboxlink.imap import ImapClient
from tests.peers.tls import make_self_signed

GREETING = (
    b"* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN SASL-IR] vm Cyrus IMAP 3.6.1 server ready\r\n"
)
LOGIN_OK = b"[CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE CONDSTORE SPECIAL-USE UIDPLUS UNSELECT MOVE IDLE] User logged in"
EXAMINE = (
    b"* 0 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)\r\n"
    b"* OK [UIDVALIDITY 1796243242] Ok\r\n* OK [UIDNEXT 1] Ok\r\n* OK [HIGHESTMODSEQ 1] Ok\r\n"
)


class CyrusInIdle:
    """Answers LOGIN, EXAMINE and IDLE as Cyrus does, then reads on and never closes: after
    the client's close_notify recv() returns b"" and the socket stays open, as with Cyrus."""

    def __init__(self, directory: Path) -> None:
        cert, key = make_self_signed(directory)
        self.cafile = str(cert)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.lines: list[bytes] = []
        self.release = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        raw, _ = self._listener.accept()
        with self._context.wrap_socket(raw, server_side=True) as conn:
            conn.sendall(GREETING)
            buffer = b""
            while not self.release.is_set():
                data = conn.recv(4096)
                if not data:  # close_notify (or EOF): Cyrus in IDLE does not react
                    self.release.wait(30)
                    return
                buffer += data
                while b"\r\n" in buffer:
                    line, buffer = buffer.split(b"\r\n", 1)
                    self.lines.append(line)
                    tag, _, command = line.partition(b" ")
                    if command.startswith(b"LOGIN"):
                        conn.sendall(tag + b" OK " + LOGIN_OK + b"\r\n")
                    elif command.startswith(b"EXAMINE"):
                        conn.sendall(EXAMINE + tag + b" OK [READ-ONLY] Completed\r\n")
                    elif command == b"IDLE":
                        conn.sendall(b"+ idling\r\n")
                    elif self.lines[-2:-1] and self.lines[-2].endswith(b" IDLE"):
                        # Anything but DONE ends the IDLE and is itself swallowed.
                        idle_tag = self.lines[-2].split(b" ")[0]
                        conn.sendall(idle_tag + b" BAD Invalid Idle continuation\r\n")

    def stop(self) -> None:
        self.release.set()
        self._listener.close()
        self._thread.join(5)


@pytest.fixture
def cyrus(tmp_path: Path) -> Iterator[CyrusInIdle]:
    server = CyrusInIdle(tmp_path)
    yield server
    server.stop()


async def test_closing_an_abandoned_idle_does_not_wait_for_the_server(cyrus: CyrusInIdle) -> None:
    """A monitor stopping mid-IDLE (its IDLE task cancelled) closes at once; before, each close
    waited the full 5 s for a TLS shutdown Cyrus never answers (and the supervisor's stop with it)."""
    context = ssl.create_default_context(cafile=cyrus.cafile)
    client = await ImapClient.connect("localhost", cyrus.port, "tls", ssl_context=context, timeout=5)
    await client.login("u@example.test", "pw")
    await client.select("INBOX", readonly=True)
    idle = asyncio.create_task(client.idle(60))
    while not any(line.endswith(b" IDLE") for line in cyrus.lines):
        await asyncio.sleep(0.01)
    idle.cancel()
    await asyncio.gather(idle, return_exceptions=True)

    closing = asyncio.create_task(client.logout())
    done, _ = await asyncio.wait({closing}, timeout=2.0)  # well inside the 5 s close timeout
    assert closing in done, "logout() still waiting on a server that never answers the TLS close"
    # And no command went out into the IDLE, where Cyrus would swallow it unanswered.
    assert cyrus.lines[-1].endswith(b" IDLE")

"""A loopback TCP server that only looks like POP3: for "that is not an IMAP server" handling."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable

from .dovecot import HOST


class _Pop3Handler(socketserver.StreamRequestHandler):
    timeout = 10  # a client that never sends or closes must not pin a thread forever

    def handle(self) -> None:
        self.wfile.write(b"+OK POP3 server ready\r\n")
        try:
            for line in self.rfile:
                self.wfile.write(b"-ERR not implemented\r\n")
                if line.strip().upper() == b"QUIT":
                    return
        except TimeoutError:
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_pop3_stub() -> tuple[int, Callable[[], None]]:
    """Start it on a free loopback port; return (port, stop)."""
    server = _Server((HOST, 0), _Pop3Handler)
    # A short poll interval: shutdown() waits up to one interval.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="pop3-stub", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return server.server_address[1], stop

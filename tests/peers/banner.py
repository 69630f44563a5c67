"""Loopback TCP servers that are not mail servers: they send a fixed banner when a client connects
(a message broker's INFO line, a database handshake), then hold the line until the client leaves.
What the connect form must never quote back."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable

from .dovecot import HOST

NATS_INFO = (
    b'INFO {"server_id":"NBANNERSECRETID","server_name":"internal-nats","version":"2.10.4",'
    b'"go":"go1.21.4","host":"0.0.0.0","port":4222,"max_payload":1048576}\r\n'
)
# The start of a MariaDB 11 initial handshake packet: length, sequence, protocol 10, version, salt.
MARIADB_HANDSHAKE = (
    b"Z\x00\x00\x00\n5.5.5-11.2.2-MariaDB-1:11.2.2+maria~ubu2204\x00\x08\x00\x00\x00"
    b"SaLtSeCr\x00\xfe\xff-\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00"
    b"MoReSaLtSeC\x00mysql_native_password\x00"
)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    banner = b""


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, _Server)
        self.request.settimeout(10)  # a client that never leaves must not pin a thread forever
        try:
            self.request.sendall(self.server.banner)
            while self.request.recv(4096):
                pass
        except OSError:
            return


def start_banner_server(banner: bytes) -> tuple[int, Callable[[], None]]:
    """Start one on a free loopback port; return (port, stop)."""
    server = _Server((HOST, 0), _Handler)
    server.banner = banner
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="banner", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return server.server_address[1], stop

"""A real HTTP webhook receiver on loopback (stdlib server in a thread, so it also serves a `serve`
subprocess): records every request and answers with the next status of its script."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    statuses: list[int] = field(default_factory=list)  # answered in turn; then `default`
    default: int = 200
    location: str | None = None  # sent as a Location header (a redirect, with a 3xx status)
    endless_body: bool = False  # answer with a body that never ends (until the client hangs up)
    body_bytes_sent: int = 0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    scheme: str = "http"
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.server.server_address[1]}/hooks"

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else self.default

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver(tls: tuple[str, str] | None = None) -> Receiver:
    """On 127.0.0.1; with `tls` (cert, key files) it speaks https."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            receiver = holder["r"]
            status = receiver.next_status()
            with receiver.lock:
                receiver.requests.append(
                    Received({k.lower(): v for k, v in self.headers.items()}, body, status)
                )
            self.send_response(status)
            if receiver.location:
                self.send_header("location", receiver.location)
            if not receiver.endless_body:
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                return
            self.send_header("content-type", "text/plain")
            self.end_headers()  # no length: the body runs until the connection closes
            self.close_connection = True
            chunk = b"x" * 65536
            try:
                while True:
                    self.wfile.write(chunk)
                    with receiver.lock:
                        receiver.body_bytes_sent += len(chunk)
            except OSError:  # the client stopped reading and closed: what a body limit does
                return

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    holder["r"] = receiver = Receiver(server)
    if tls is not None:
        receiver.scheme, receiver.host = "https", "localhost"  # the name the certificate is for
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver

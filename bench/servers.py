"""The IMAP servers a benchmark can run against, by name: the suite's Dovecot, and Courier-IMAP and
Cyrus IMAP unpacked from Debian packages (tests/peers/unpacked.py, fetched on first use). Each
comes with the provider SMTP (tests/peers/provider_smtp.py) relaying into it, so the same
send path is measured everywhere and only the IMAP server differs."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.peers import courier, cyrus
from tests.peers.dovecot import start_mail_server
from tests.peers.provider_smtp import ProviderSmtp

NAMES = ("dovecot", "courier", "cyrus")
T = TypeVar("T")


def unavailable(name: str) -> str | None:
    """Why `name` cannot run here (None: it can)."""
    if name == "courier":
        return courier.unavailable()
    if name == "cyrus":
        return cyrus.unavailable()
    return None


def start(name: str, directory: Path) -> Any:
    if name == "courier":
        # Every monitor and send comes from 127.0.0.1: beyond its -maxperip Courier resets them.
        return courier.start_courier(directory, max_per_ip=1000)
    if name == "cyrus":
        return cyrus.start_cyrus(directory)
    return start_mail_server(directory)


def with_server(name: str, prefix: str, body: Callable[[Any, ProviderSmtp, Path], Awaitable[T]]) -> T | None:
    """Start `name` and the provider SMTP in a fresh temp dir, run `body(server, provider,
    data_dir)` with SSL_CERT_FILE trusting them, stop both. A failure is printed and gives None:
    a benchmark reports and exits 0."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    started = time.monotonic()
    server: Any = None
    provider: ProviderSmtp | None = None
    try:
        server = start(name, base / name)
        provider = ProviderSmtp(server)
        os.environ["SSL_CERT_FILE"] = server.ca_file  # inboxlink verifies the peers' certificate
        return asyncio.run(body(server, provider, base / "data"))
    except Exception as exc:
        tail = server.log_tail(20) if server is not None else ""
        print(f"\n{name}: benchmark aborted: {exc!r}\n{tail}")
        return None
    finally:
        if provider is not None:
            provider.stop()
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
        print(f"{name}: run time {time.monotonic() - started:.0f} s")

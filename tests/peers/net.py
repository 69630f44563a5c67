"""Loopback socket helpers for the test peers."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    # Bound together so the kernel hands out distinct ports.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def imap_greets(host: str, port: int) -> bool:
    """A login process answers, not just the master's listening socket."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            return sock.recv(256).startswith(b"* OK")
    except OSError:
        return False

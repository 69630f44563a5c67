"""A real `inboxlink serve` process for tests and benchmarks: its own data dir and free ports, the
command line next to it, start (until HTTP answers), signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.peers.net import free_ports


class ServeProcess:
    """One `inboxlink serve` at a time on a fixed data dir and port."""

    def __init__(self, data: Path, ca_file: str) -> None:
        http_port, bcc_port = free_ports(2)
        self.data = data
        self.base = f"http://127.0.0.1:{http_port}"
        self.env = {
            **os.environ,
            "INBOXLINK_DATA_DIR": str(data),
            "INBOXLINK_HTTP": f"127.0.0.1:{http_port}",
            "INBOXLINK_BCC_SMTP": f"127.0.0.1:{bcc_port}",
            "SSL_CERT_FILE": ca_file,
        }
        self.log = data.parent / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "inboxlink.cli", *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, poll: float = 0.1, timeout: float = 30) -> tuple[float, float]:
        """Start and wait until HTTP answers; returns (started, answered) as time.monotonic()."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "inboxlink.cli", "serve"], env=self.env, stdout=log, stderr=log
            )
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            try:
                httpx.get(f"{self.base}/api/v1/me", timeout=1)
                return started, time.monotonic()
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    raise RuntimeError("serve exited while starting:\n" + self.log_tail()) from None
                time.sleep(poll)
        raise RuntimeError("serve did not start:\n" + self.log_tail())

    def kill(self, sig: int = signal.SIGKILL, within: float = 20) -> int | None:
        """Send `sig` and wait for the exit; its code, or None when it was not running."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=within)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

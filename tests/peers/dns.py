"""A private DNS server on loopback (dnsmasq from Debian): the TXT records of the DKIM/SPF tests.

Authoritative for the zones it is given (`--local`: unknown names there are NXDOMAIN, nothing is
forwarded anywhere), on a free port of 127.0.0.1, UDP and TCP. Point inboxlink at it with
`INBOXLINK_DNS_SERVERS=127.0.0.1:PORT`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .net import HOST, free_ports

_START_TIMEOUT = 10.0
_TXT_STRING = 255  # one character-string of a TXT record holds at most 255 bytes


def dnsmasq_binary() -> str | None:
    return shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if Path("/usr/sbin/dnsmasq").exists() else None)


class DnsServer:
    def __init__(
        self,
        directory: Path,
        zones: Sequence[str],
        txt: Mapping[str, str],
        hosts: Mapping[str, str] | None = None,
    ) -> None:
        self.host = HOST
        [self.port] = free_ports(1)
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"port={self.port}",
            f"listen-address={HOST}",
            "bind-interfaces",
            "no-resolv",
            "no-hosts",
            "no-poll",
            "user=root",  # stays in its own directory; no privilege drop needed for a test peer
            f"pid-file={directory / 'dnsmasq.pid'}",
            f"log-facility={directory / 'dnsmasq.log'}",
            "log-queries",
            *(f"local=/{zone}/" for zone in zones),
            *(f"txt-record={name},{_strings(value)}" for name, value in txt.items()),
        ]
        self.config = directory / "dnsmasq.conf"
        self._lines = lines
        self._write(hosts or {})
        self._process: subprocess.Popen[bytes] | None = None

    def _write(self, hosts: Mapping[str, str]) -> None:
        records = [f"host-record={name},{address}" for name, address in hosts.items()]
        self.config.write_text("\n".join([*self._lines, *records]) + "\n")

    def rebind(self, hosts: Mapping[str, str]) -> None:
        """Answer with other addresses from now on (same port): a DNS rebinding, as an attacker
        who controls a name's records does between two lookups."""
        self.stop()
        self._write(hosts)
        self.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        binary = dnsmasq_binary()
        if binary is None:
            raise RuntimeError("dnsmasq is not installed (scripts/install-test-deps installs dnsmasq-base)")
        with (self.directory / "dnsmasq.out").open("ab") as out:
            self._process = subprocess.Popen(
                [binary, "--keep-in-foreground", f"--conf-file={self.config}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dnsmasq did not start:\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("dnsmasq.out", "dnsmasq.log"):
            with contextlib.suppress(OSError):
                text += (self.directory / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _answers(self) -> bool:
        """A TCP connect works once dnsmasq listens (it serves TCP and UDP on the same port)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False


def _strings(value: str) -> str:
    """A TXT value as dnsmasq's comma-separated character-strings, each ≤ 255 bytes, quoted."""
    chunks = [value[i : i + _TXT_STRING] for i in range(0, len(value), _TXT_STRING)] or [""]
    return ",".join(f'"{chunk}"' for chunk in chunks)


@contextlib.contextmanager
def running_dns(directory: Path, zones: Sequence[str], txt: Mapping[str, str]) -> Iterator[DnsServer]:
    server = DnsServer(directory, zones, txt)
    server.start()
    try:
        yield server
    finally:
        server.stop()

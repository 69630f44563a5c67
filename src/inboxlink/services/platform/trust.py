"""One `ssl.SSLContext` per trust configuration, shared by every outgoing TLS connection.

Why: `ssl.create_default_context()` loads the whole CA bundle (the system store is ~150 certificates,
~840 KiB once parsed) and a connection keeps its context alive, so one context per connection cost
~1 MiB per IDLE inbox. A context is safe to share between connections (OpenSSL reference-counts it
and asyncio never mutates it after the handshake).

A renewed bundle must still be honoured without a restart: every `context()` call looks at the
bundle's identity (path from SSL_CERT_FILE/SSL_CERT_DIR or OpenSSL's default, plus the file's
mtime, size and inode: one `stat`, microseconds), and only when that changed hashes the contents; a
different hash builds a new context. Connections already open keep the context they were made with.

One context per *purpose* as well: httpx (httpcore) sets ALPN protocols ("http/1.1") on the context
it is given, which must never reach an IMAP or SMTP server, so HTTPS clients get a context of their own.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import threading

__all__ = ["TrustStore"]

_Signature = tuple[str | None, str | None, int, int, int]


def _bundle_paths() -> tuple[str | None, str | None]:
    """The CA file and directory `create_default_context()` would load (env vars win)."""
    paths = ssl.get_default_verify_paths()
    return paths.cafile, paths.capath


def _signature(cafile: str | None, capath: str | None) -> _Signature:
    try:
        st = os.stat(cafile) if cafile else None
    except OSError:
        st = None
    if st is None:
        return (cafile, capath, -1, -1, -1)
    return (cafile, capath, st.st_mtime_ns, st.st_size, st.st_ino)


def _digest(cafile: str | None) -> bytes:
    if not cafile:
        return b""
    try:
        with open(cafile, "rb") as f:
            return hashlib.file_digest(f, "sha256").digest()
    except OSError:
        return b""


class TrustStore:
    """Hands out the current shared context; thread-safe (probes may run in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signature: _Signature | None = None
        self._digest: bytes | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self.builds = 0  # how many contexts were built (tests and the memory bench read it)

    def context(self, purpose: str = "mail") -> ssl.SSLContext:
        """The shared context for `purpose` ("mail": IMAP/SMTP; "https": HTTP clients)."""
        cafile, capath = _bundle_paths()
        signature = _signature(cafile, capath)
        with self._lock:
            if signature != self._signature:
                digest = _digest(cafile)
                if digest != self._digest or signature[:2] != (self._signature or ())[:2]:
                    self._contexts.clear()  # a new bundle: every purpose builds afresh
                self._signature, self._digest = signature, digest
            if (context := self._contexts.get(purpose)) is None:
                context = self._contexts[purpose] = ssl.create_default_context()
                self.builds += 1
            return context

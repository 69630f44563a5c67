"""What the interop peers (Courier, Cyrus) share: logins kept for the provider SMTP's AUTH, and
reading/storing mail as the user over plain IMAP on loopback (EXAMINE + BODY.PEEK: no side effects
but Courier's UID database, which a mail client creates the same way)."""

from __future__ import annotations

import contextlib
import imaplib
import os
import signal
import time
from collections.abc import Iterator

from inboxlink.imap.utf7 import encode_mailbox

from .net import HOST


class ImapPeer:
    name = "peer"
    sent_folder = "Sent"
    host = HOST
    imap_port: int
    imaps_port: int
    ca_file: str
    key_file: str

    def __init__(self) -> None:
        self._passwords: dict[str, str] = {}

    def has_user(self, email: str) -> bool:
        return email.lower() in self._passwords

    def check_password(self, email: str, password: str) -> bool:
        return self._passwords.get(email.lower()) == password

    @contextlib.contextmanager
    def session(self, email: str) -> Iterator[imaplib.IMAP4]:
        conn = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
        try:
            conn.login(email, self._passwords[email.lower()])
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def messages(self, email: str, folder: str = "INBOX") -> list[bytes]:
        """Raw messages in UID order, as IMAP serves them."""
        with self.session(email) as conn:
            typ, data = conn.select(_quoted(folder), readonly=True)
            assert typ == "OK", data
            if int(data[0] or b"0") == 0:
                return []
            typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
            assert typ == "OK", data
        return [item[1] for item in data if isinstance(item, tuple)]

    def folders(self, email: str) -> list[str]:
        with self.session(email) as conn:
            typ, data = conn.list()
            assert typ == "OK", data
        names = []
        for line in data:
            assert isinstance(line, bytes)
            names.append(line.rsplit(b" ", 1)[-1].strip(b'"').decode())
        return sorted(names)

    def append(self, email: str, folder: str, message: bytes) -> None:
        with self.session(email) as conn:
            typ, data = conn.append(_quoted(folder), "(\\Seen)", None, message)
            assert typ == "OK", data


def _quoted(folder: str) -> str:
    return '"' + encode_mailbox(folder).replace("\\", "\\\\").replace('"', '\\"') + '"'


PEER_ID = "INBOXLINK_PEER_ID"


def marked_pids(marker: str) -> list[int]:
    """PIDs of the processes started with PEER_ID=`marker` in their environment (and their
    descendants, which inherit it): the daemons of one peer instance, which detach from the
    process group we started (couriertcpd, gam_server) and must still be stopped — only those."""
    needle = f"{PEER_ID}={marker}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read() + b"\0":
                    found.append(int(entry))
        except OSError:
            continue
    return found


def stop_marked(marker: str, timeout: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = marked_pids(marker)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if _alive(p)]
            time.sleep(0.05)
        if not pids:
            return


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie is gone for our purposes
    except OSError:
        return False

"""A private Cyrus IMAP 3.6 (Debian 12 packages, unpacked: tests/peers/unpacked.py) on loopback.

Cyrus takes every path from its imapd.conf/cyrus.conf (`master -C … -M …`), so unlike Courier it
needs no mount namespace. Its `master` (run as root, in the foreground, in its own session) starts
imapd on a STARTTLS port and an implicit-TLS port, lmtpd (preauthenticated, `-a`) on a TCP port,
and idled: without idled an IDLE session only sees new mail on its `imapidlepoll` (60 s). The
services drop to the `mail` user (cyrus_user), which must be able to read the test directory.

Logins are `user@domain` (virtdomains: userid) with passwords in a sasldb (saslpasswd2 from
sasl2-bin); Postfix (tests/peers/postfix.py) authenticates against the same sasldb. Debian's
namespace is kept (altnamespace: no, "." separator): folders are INBOX.Sent, INBOX.Drafts, ….
A user gets their INBOX on first login with Sent/Drafts/Trash flagged \\Sent/\\Drafts/\\Trash
(autocreate_inbox_folders + xlist-*), the way a fresh Cyrus account looks; `special_use=False`
creates the mailboxes as an administrator would with plain CREATEs instead, so Sent is only a name.
Mail arrives through LMTP, as from an MTA.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import smtplib
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from . import unpacked
from .imap_peer import PEER_ID, ImapPeer, stop_marked
from .net import free_ports, imap_greets
from .tls import make_self_signed

MARKER = "usr/lib/cyrus/bin/imapd"
RUN_AS = "mail"  # Debian's own mail user: Cyrus will not run its services as root
ADMIN = "cyrusadmin"
BIN = "usr/lib/cyrus/bin"

_IMAPD_CONF = """configdirectory: {d}/lib
defaultpartition: default
partition-default: {d}/spool
proc_path: {d}/lib/proc
mboxname_lockpath: {d}/lib/lock
sievedir: {d}/lib/sieve
# idled's socket, and each imapd's, live in {{configdirectory}}/socket whatever idlesocket says.
idlesocket: {d}/lib/socket/idle
lmtpsocket: {d}/lib/socket/lmtp
notifysocket: {d}/lib/socket/notify
cyrus_user: {user}
altnamespace: no
unixhierarchysep: no
virtdomains: userid
admins: {admin}
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {d}/etc/sasldb2
sasl_mech_list: PLAIN LOGIN
tls_server_cert: {d}/tls/cert.pem
tls_server_key: {d}/tls/key.pem
autocreate_quota: 0
autocreate_inbox_folders: Sent | Drafts | Trash
xlist-sent: Sent
xlist-drafts: Drafts
xlist-trash: Trash
lmtp_downcase_rcpt: yes
hashimapspool: false
"""

_CYRUS_CONF = """START {{
  recover cmd="{bin}/ctl_cyrusdb -C {conf} -r"
}}
SERVICES {{
  imap cmd="{bin}/imapd -C {conf}" listen="127.0.0.1:{imap}" prefork=0
  imaps cmd="{bin}/imapd -s -C {conf}" listen="127.0.0.1:{imaps}" prefork=0
  lmtp cmd="{bin}/lmtpd -a -C {conf}" listen="127.0.0.1:{lmtp}" prefork=0
}}
DAEMON {{
  idled cmd="{bin}/idled -C {conf}"
}}
"""


def unavailable() -> str | None:
    """Why Cyrus cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (Cyrus's master drops its services to the mail user)"
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        return f"no {RUN_AS!r} user to run the Cyrus services as"
    return unpacked.ensure(unpacked.CYRUS, MARKER)


class CyrusServer(ImapPeer):
    name = "cyrus"
    sent_folder = "INBOX.Sent"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.imap_port, self.imaps_port, self.lmtp_port = free_ports(3)
        cert, key = make_self_signed(directory / "tls")
        self.ca_file, self.key_file = str(cert), str(key)
        self.sasldb = directory / "etc" / "sasldb2"
        self._admin_password = os.urandom(9).hex()
        self._process: subprocess.Popen[bytes] | None = None
        self._sasldb_lock = threading.Lock()  # benchmarks add users from several threads

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        d = self.directory
        for sub in ("etc", "log", "spool", "lib/socket", "lib/proc", "lib/lock", "lib/sieve"):
            (d / sub).mkdir(mode=0o750, parents=True, exist_ok=True)
        conf = d / "etc" / "imapd.conf"
        conf.write_text(_IMAPD_CONF.format(d=d, user=RUN_AS, admin=ADMIN))
        bin_dir = unpacked.root() / BIN
        (d / "etc" / "cyrus.conf").write_text(
            _CYRUS_CONF.format(
                bin=bin_dir, conf=conf, imap=self.imap_port, imaps=self.imaps_port, lmtp=self.lmtp_port
            )
        )
        if not self.sasldb.exists():
            self._saslpasswd(ADMIN, self._admin_password)
        subprocess.run(["chown", "-R", f"{RUN_AS}:{RUN_AS}", str(d)], check=True)
        argv = [str(bin_dir / "master"), "-C", str(conf), "-M", str(d / "etc" / "cyrus.conf")]
        argv += ["-p", str(d / "lib" / "master.pid")]
        with (d / "log" / "master.log").open("ab") as out:
            self._process = subprocess.Popen(
                argv,
                env={**os.environ, "LD_LIBRARY_PATH": unpacked.library_path(), PEER_ID: str(d)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while not (imap_greets(self.host, self.imap_port) and (d / "lib/socket/idle").exists()):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Cyrus did not start\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()  # master ends its services and idled itself on SIGTERM
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stop_marked(str(self.directory))  # a service that outlived master: only ours

    def log_tail(self, lines: int = 40) -> str:
        # Cyrus logs to syslog (none here); master's own output is all there is.
        path = self.directory / "log" / "master.log"
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return f"--- {path} ---\n" + "\n".join(text)

    # ---- users and mail ----

    def add_user(
        self, email: str, password: str, folders: tuple[str, ...] = (), *, special_use: bool = True
    ) -> None:
        """A login; with special_use its INBOX, Sent, Drafts and Trash are autocreated (and
        flagged) on this first login, else an administrator creates INBOX and INBOX.Sent."""
        local, _, domain = email.lower().partition("@")
        self._saslpasswd(local, password, realm=domain)
        self._passwords[email.lower()] = password
        if not special_use:
            with self._admin() as conn:
                for name in ("", ".Sent", *(f".{f}" for f in folders)):
                    typ, data = conn.create(f"user.{local}{name}@{domain}")
                    assert typ == "OK", data
        with self.session(email) as conn:  # the first login (autocreates when special_use)
            for folder in folders if special_use else ():
                typ, data = conn.create(f"INBOX.{folder}")
                assert typ == "OK", data

    def deliver(self, rcpt: str, message: bytes, mail_from: str = "") -> None:
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], message)

    def save(self, email: str, folder: str, message: bytes) -> None:
        self.append(email, folder, message)

    def special_use(self, email: str) -> dict[str, set[str]]:
        """Folder → its special-use flags (lower-cased: Cyrus answers `\\sent`)."""
        with self.session(email) as conn:
            typ, data = conn._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
            assert typ == "OK", data
            _, lines = conn._untagged_response(typ, data, "LIST")
        found = {}
        for line in lines:
            assert isinstance(line, bytes)
            flags, _, rest = line.partition(b") ")
            name = rest.rsplit(b" ", 1)[-1].strip(b'"').decode()
            found[name] = {f.lower() for f in flags.lstrip(b"(").decode().split()} - {
                "\\haschildren",
                "\\hasnochildren",
            }
        return found

    # ---- internals ----

    @contextlib.contextmanager
    def _admin(self) -> Iterator[imaplib.IMAP4]:
        conn = imaplib.IMAP4(self.host, self.imap_port, timeout=30)
        try:
            conn.login(ADMIN, self._admin_password)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def _saslpasswd(self, user: str, password: str, realm: str = "") -> None:
        argv = [str(unpacked.root() / "usr/sbin/saslpasswd2"), "-f", str(self.sasldb), "-c", "-p"]
        argv += ["-u", realm, user] if realm else [user]  # no realm: the host's (the admin's)
        env = {**os.environ, "LD_LIBRARY_PATH": unpacked.library_path()}
        with self._sasldb_lock:
            done = subprocess.run(argv, input=password.encode(), env=env, capture_output=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"saslpasswd2 {user}: {done.stderr.decode(errors='replace')}")
        with contextlib.suppress(OSError):
            shutil.chown(self.sasldb, RUN_AS, RUN_AS)


def start_cyrus(directory: Path) -> CyrusServer:
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    unpacked.make_traversable(directory)  # the mail user reads its configuration and spool there
    server = CyrusServer(directory)
    server.start()
    return server

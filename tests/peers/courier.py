"""A private Courier-IMAP 5.0 (Debian 12 packages, unpacked: tests/peers/unpacked.py) on loopback.

Courier compiles its paths in (/etc/courier/authdaemonrc, /etc/courier/userdb.dat, the authdaemon
socket under /run/courier, gamin's /usr/libexec/gam_server), so the whole server — authdaemond,
couriertcpd on a STARTTLS port and an implicit-TLS port, gam_server for IDLE push
(IMAP_ENHANCEDIDLE=1) — runs in a private mount namespace (`unshare -m`) in which this instance's
directories are mounted on those paths. Nothing outside the test directory is written except two
empty mount points, /etc/courier and /run/courier.

Users live in a userdb (courier-authlib-userdb) with SHA-512 crypt passwords; mail in maildirs
owned by uid 5000. Mail arrives as a local delivery agent would put it: a file in Maildir/new.
Courier has no SPECIAL-USE: the Sent folder (INBOX.Sent) is found by name.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from . import unpacked
from .imap_peer import PEER_ID, ImapPeer, stop_marked
from .net import free_ports, imap_greets
from .tls import make_self_signed

MAIL_UID = MAIL_GID = 5000
MARKER = "usr/lib/courier/courier/imaplogin"

CAPABILITY = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"

_LAUNCH = """set -e
mount --make-rprivate /
mount --bind {etc} /etc/courier
mount -t tmpfs tmpfs /run/courier
mount --bind {root}/usr/libexec /usr/libexec
# gamin names its socket after the user: uid 5000 gets a name, in this namespace only.
cp /etc/passwd {etc}/passwd
echo "vmail:x:{uid}:{uid}::/nonexistent:/usr/sbin/nologin" >> {etc}/passwd
mount --bind {etc}/passwd /etc/passwd
mkdir -p /run/courier/authdaemon
chmod 755 /run/courier/authdaemon
export LD_LIBRARY_PATH={libs}
set -a
. {etc}/authdaemonrc
. {etc}/imapd.env
set +a
{root}/usr/lib/courier/courier-authlib/authdaemond >>{log}/authdaemond.log 2>&1 &
{tcpd} {imap_port} {root}/usr/lib/courier/courier/imaplogin {root}/usr/bin/imapd . &
{tcpd} {imaps_port} {root}/usr/bin/couriertls -server -tcpd {root}/usr/lib/courier/courier/imaplogin {root}/usr/bin/imapd . &
wait
"""


def unavailable() -> str | None:
    """Why Courier cannot run here (None: it can)."""
    return unpacked.can_unshare() or unpacked.ensure(unpacked.COURIER, MARKER)


class CourierServer(ImapPeer):
    name = "courier"
    sent_folder = "INBOX.Sent"

    def __init__(self, directory: Path, *, enhanced_idle: bool = True, max_per_ip: int = 50) -> None:
        super().__init__()
        # couriertcpd -maxperip: every inboxlink connection comes from one address (Debian: 20).
        self.max_per_ip = max_per_ip
        self.directory = directory
        self.imap_port, self.imaps_port = free_ports(2)
        self.enhanced_idle = enhanced_idle
        cert, key = make_self_signed(directory / "tls")
        self.ca_file, self.key_file = str(cert), str(key)
        self._etc = directory / "etc"
        self._log = directory / "log"
        self._process: subprocess.Popen[bytes] | None = None
        self._homes: dict[str, Path] = {}
        self._userdb_lock = threading.Lock()  # benchmarks add users from several threads

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        for d in (self._etc, self._log, self.directory / "home"):
            d.mkdir(mode=0o755, parents=True, exist_ok=True)
        for mount_point in ("/etc/courier", "/run/courier"):
            os.makedirs(mount_point, exist_ok=True)
        pem = self._etc / "imapd.pem"
        pem.write_bytes(Path(self.key_file).read_bytes() + Path(self.ca_file).read_bytes())
        pem.chmod(0o600)
        (self._etc / "authdaemonrc").write_text(
            'authmodulelist="authuserdb"\ndaemons=2\nauthdaemonvar=/run/courier/authdaemon\n'
            'DEBUG_LOGIN=0\nDEFAULTOPTIONS=""\nLOGGEROPTS=""\n'
        )
        env = {
            "IMAP_CAPABILITY": CAPABILITY,
            "IMAP_CAPABILITY_TLS": CAPABILITY + " AUTH=PLAIN",
            "IMAP_KEYWORDS": "1",
            "IMAP_ACL": "1",
            "IMAP_IDLE_TIMEOUT": "60",
            "IMAP_ENHANCEDIDLE": "1" if self.enhanced_idle else "0",
            "IMAP_USELOCKS": "1",
            "IMAP_UMASK": "022",
            "IMAP_ULIMITD": "131072",
            "IMAP_CHECK_ALL_FOLDERS": "0",
            "IMAP_MAILBOX_SANITY_CHECK": "1",
            "IMAP_TRASHFOLDERNAME": "Trash",
            "IMAP_STARTTLS": "YES",
            "IMAP_TLS_REQUIRED": "0",
            "COURIERTLS": str(unpacked.root() / "usr/bin/couriertls"),
            "TLS_CERTFILE": str(pem),
            "TLS_VERIFYPEER": "NONE",
            "HEADERFROM": "X-IMAP-Sender",
            "MAILDIRPATH": ".",
        }
        (self._etc / "imapd.env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()))
        self._make_userdb()
        tcpd = (
            f"{unpacked.root()}/usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs={max(100, self.max_per_ip)} -maxperip={self.max_per_ip} "
            f"-nodnslookup -noidentlookup -stderr={self._log}/imapd.err"
        )
        script = _LAUNCH.format(
            etc=self._etc,
            root=unpacked.root(),
            libs=unpacked.library_path(),
            log=self._log,
            tcpd=tcpd,
            imap_port=self.imap_port,
            imaps_port=self.imaps_port,
            uid=MAIL_UID,
        )
        (self.directory / "launch.sh").write_text(script)
        with (self._log / "launch.out").open("ab") as out:
            self._process = subprocess.Popen(
                ["unshare", "-m", "-p", "-f", "--kill-child", "bash", str(self.directory / "launch.sh")],
                env={**os.environ, PEER_ID: str(self.directory)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends exactly these processes
            )
        deadline = time.monotonic() + 20
        while not (imap_greets(self.host, self.imap_port) and imap_greets_tls(self)):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Courier did not start\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            # unshare --kill-child: the namespace's init goes, and the kernel ends everything in
            # the PID namespace with it (couriertcpd and gam_server detach, but cannot leave it).
            # (SIGKILL: unshare waits out a SIGTERM; its parent-death signal still reaches the child.)
            process.kill()
            process.wait()
        stop_marked(str(self.directory))  # nothing should be left; if it is, only ours

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in sorted(self._log.glob("*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts)

    # ---- users and mail ----

    def add_user(self, email: str, password: str, folders: Sequence[str] = ("Sent",)) -> None:
        home = self.directory / "home" / email.lower()
        maildirmake = [str(unpacked.root() / "usr/bin/maildirmake.courier")]
        self._run([*maildirmake, str(home)])
        for folder in folders:
            self._run([*maildirmake, "-f", folder, str(home)])
        subprocess.run(["chown", "-R", f"{MAIL_UID}:{MAIL_GID}", str(home)], check=True)
        with self._userdb_lock:
            self._homes[email.lower()] = home
            self._passwords[email.lower()] = password
            self._make_userdb()

    def deliver(self, rcpt: str, message: bytes, mail_from: str = "") -> None:
        """As a local delivery agent: the whole file in Maildir/tmp, then renamed into new/."""
        home = self._homes[rcpt.lower()]
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.peer"
        tmp = home / "tmp" / name
        tmp.write_bytes(f"Return-Path: <{mail_from}>\n".encode() + message.replace(b"\r\n", b"\n"))
        os.chown(tmp, MAIL_UID, MAIL_GID)
        os.rename(tmp, home / "new" / name)

    def save(self, email: str, folder: str, message: bytes) -> None:
        self.append(email, folder, message)

    # ---- internals ----

    def _make_userdb(self) -> None:
        lines = []
        for email, password in self._passwords.items():
            home = self._homes[email]
            crypted = (
                subprocess.run(
                    ["openssl", "passwd", "-6", "-stdin"],
                    input=password.encode(),
                    capture_output=True,
                    check=True,
                )
                .stdout.decode()
                .strip()
            )
            lines.append(
                f"{email}\tuid={MAIL_UID}|gid={MAIL_GID}|home={home}|mail={home}|systempw={crypted}\n"
            )
        userdb = self._etc / "userdb"
        userdb.write_text("".join(lines))
        userdb.chmod(0o600)
        # makeuserdb with its helper's path pointed into the unpacked tree.
        script = (unpacked.root() / "usr/sbin/makeuserdb").read_text()
        script = script.replace(
            "/usr/lib/courier/courier-authlib/makedatprog",
            str(unpacked.root() / "usr/lib/courier/courier-authlib/makedatprog"),
        )
        (self.directory / "makeuserdb").write_text(script)
        self._run(["perl", str(self.directory / "makeuserdb"), "-f", str(userdb)])

    def _run(self, argv: list[str]) -> None:
        env = {**os.environ, "LD_LIBRARY_PATH": unpacked.library_path()}
        done = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)}: {done.stderr.decode(errors='replace')}")


def imap_greets_tls(server: CourierServer) -> bool:
    import socket
    import ssl

    context = ssl.create_default_context(cafile=server.ca_file)
    try:
        with (
            socket.create_connection((server.host, server.imaps_port), timeout=2) as sock,
            context.wrap_socket(sock, server_hostname="localhost") as tls,
        ):
            return tls.recv(256).startswith(b"* OK")
    except OSError:
        return False


def start_courier(directory: Path, *, enhanced_idle: bool = True, max_per_ip: int = 50) -> CourierServer:
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    for p in (directory, *directory.parents):
        if not p.stat().st_mode & 0o001:
            p.chmod(p.stat().st_mode | 0o001)  # uid 5000 traverses the test directories
        if p == Path("/tmp"):
            break
    server = CourierServer(directory, enhanced_idle=enhanced_idle, max_per_ip=max_per_ip)
    server.start()
    return server

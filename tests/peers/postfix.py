"""Postfix 3.7 (Debian 12 package, unpacked: tests/peers/unpacked.py) as the user's submission
server: STARTTLS on one port, implicit TLS on another, SASL PLAIN/LOGIN checked against the IMAP
peer's sasldb (Cyrus: tests/peers/cyrus.py), relaying everything to a sink (aiosmtpd) that records
what arrived, as the outside world would see it, and hands mail for the peer's own users to it.

The unpacked Postfix finds its shared libraries (usr/lib/postfix) through LD_LIBRARY_PATH, which
its `postfix` command strips from the environment unless import_environment names it. Its daemons
log to `maillog_file` through postlogd: there is no syslog here. `mail_owner` is Debian's `mail`
user (Postfix refuses root); `setgid_group` is any existing group other than mail's and nobody's
(Postfix checks that they differ; postdrop itself is never used: mail only comes in over SMTP).
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from . import unpacked
from .imap_peer import PEER_ID, stop_marked
from .net import HOST, free_ports

MARKER = "usr/lib/postfix/sbin/smtpd"
OWNER = "mail"

_MASTER_CF = """127.0.0.1:{starttls} inet n - n - - smtpd
127.0.0.1:{tls} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (Postfix's master runs as root, its daemons as the mail user)"
    if _setgid_group() is None:
        return "no group to use as Postfix's setgid_group"
    return unpacked.ensure(unpacked.POSTFIX, MARKER)


def _setgid_group() -> str | None:
    taken = {pwd.getpwnam(OWNER).pw_gid, pwd.getpwnam("nobody").pw_gid}
    for name in ("postdrop", "news", "uucp", "games"):
        with_gid = next((g for g in grp.getgrall() if g.gr_name == name), None)
        if with_gid is not None and with_gid.gr_gid not in taken:
            return name
    return None


class PostfixSubmission:
    """Same face as tests/peers/provider_smtp.ProviderSmtp: host, starttls_port, tls_port,
    received [(mail_from, rcpt_tos, data) as relayed], stop()."""

    def __init__(self, directory: Path, peer: Any) -> None:
        self.host = HOST
        self.directory = directory
        self.peer = peer
        self.starttls_port, self.tls_port, self.sink_port = free_ports(3)
        self.received: list[tuple[str, list[str], bytes]] = []
        self._sink = Controller(_Sink(self), hostname=HOST, port=self.sink_port)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        d, root = self.directory, unpacked.root()
        for sub in ("etc/sasl", "queue", "data", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        libs = unpacked.library_path()
        main = {
            "compatibility_level": "3.6",
            "queue_directory": d / "queue",
            "data_directory": d / "data",
            "daemon_directory": root / "usr/lib/postfix/sbin",
            "command_directory": root / "usr/sbin",
            "shlib_directory": root / "usr/lib/postfix",
            "meta_directory": d / "etc",
            "mail_owner": OWNER,
            "setgid_group": _setgid_group(),
            "import_environment": f"MAIL_CONFIG MAIL_DEBUG TZ LANG=C LD_LIBRARY_PATH={libs}",
            "maillog_file": d / "log" / "maillog",
            "maillog_file_prefixes": d / "log",
            "myhostname": "smtp.example.test",
            "mydestination": "",
            "inet_interfaces": HOST,
            "inet_protocols": "ipv4",
            "relayhost": f"[{HOST}]:{self.sink_port}",
            "smtp_tls_security_level": "none",
            "smtp_dns_support_level": "disabled",
            "smtpd_peername_lookup": "no",  # no DNS here: a reverse lookup would only wait
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "message_size_limit": "52428800",
            "smtpd_tls_cert_file": self.peer.ca_file,
            "smtpd_tls_key_file": self.peer.key_file,
            "smtpd_tls_security_level": "encrypt",
            "smtpd_tls_auth_only": "yes",
            "smtpd_sasl_auth_enable": "yes",
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
            "smtpd_recipient_restrictions": "permit_sasl_authenticated, reject",
        }
        (d / "etc/main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()))
        (d / "etc/master.cf").write_text(_MASTER_CF.format(starttls=self.starttls_port, tls=self.tls_port))
        shutil.copy(root / "etc/postfix/postfix-files", d / "etc/postfix-files")
        # Debian's smtpd reads its SASL settings from {config_directory}/sasl/smtpd.conf.
        (d / "etc/sasl/smtpd.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {self.peer.sasldb}\n"
            "mech_list: PLAIN LOGIN\n"
        )
        env = {**os.environ, "LD_LIBRARY_PATH": libs, PEER_ID: str(d)}
        postfix = [str(root / "usr/sbin/postfix"), "-c", str(d / "etc")]
        # `post-install create-missing`: the queue's directories, with the owners Postfix wants.
        subprocess.run([*postfix, "post-install", "create-missing"], env=env, capture_output=True, timeout=60)
        shutil.chown(d / "data", OWNER)
        self._sink.start()
        with (d / "log" / "master.out").open("ab") as out:
            self._process = subprocess.Popen(
                [str(root / "usr/lib/postfix/sbin/master"), "-c", str(d / "etc"), "-d"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while not _greets(self.host, self.starttls_port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Postfix did not start\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()  # master stops its daemons on SIGTERM
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            self._sink.stop()
        stop_marked(str(self.directory))

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for path in sorted((self.directory / "log").glob("*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts)


class _Sink:
    def __init__(self, submission: PostfixSubmission) -> None:
        self.submission = submission

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content
        assert isinstance(data, bytes) and envelope.mail_from is not None
        peer = self.submission.peer
        for rcpt in envelope.rcpt_tos:
            if peer.has_user(rcpt):
                await asyncio.to_thread(peer.deliver, rcpt, data, envelope.mail_from)
        self.submission.received.append((envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 2.0.0 OK"


def _greets(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            return sock.recv(256).startswith(b"220")
    except OSError:
        return False


def start_postfix(directory: Path, peer: Any) -> PostfixSubmission:
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    unpacked.make_traversable(directory)
    submission = PostfixSubmission(directory, peer)
    submission.start()
    return submission

"""A private Dovecot 2.3 (IMAP + LMTP) on loopback ports: the user's real mailbox in tests.

One instance lives in one directory: dovecot.conf (rendered from dovecot.conf.in), tls/, users/ (one
passwd-file per user), mail/ (maildirs, owned by uid 5000), log/dovecot.log, state/ and run/.
"""

from __future__ import annotations

import atexit
import contextlib
import imaplib
import math
import os
import shlex
import shutil
import signal
import smtplib
import stat
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from inboxlink.imap.utf7 import encode_mailbox

from .net import free_ports, imap_greets, port_open
from .tls import make_self_signed

HOST = "127.0.0.1"
# Dovecot refuses mail access as root; mail processes run as this uid, which needs no passwd entry.
MAIL_UID = MAIL_GID = 5000
TEMPLATE = Path(__file__).with_name("dovecot.conf.in")

# Dovecot 2.3.19's built-in post-login CAPABILITY. `imap_capability` can only replace the whole list,
# so an instance without IDLE or SPECIAL-USE spells it out minus those (test_peers checks it still
# matches the installed Dovecot).
DEFAULT_IMAP_CAPABILITY: tuple[str, ...] = tuple(
    (
        "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
        "THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS "
        "LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH "
        "LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY "
        "SPECIAL-USE"
    ).split()
)

# Unix socket paths are limited to 107 bytes; Dovecot's longest name under base_dir is ~25 bytes.
_MAX_RUN_DIR_LEN = 70
# Dovecot's default auth_username_chars: anything else (e.g. "+") is refused at login.
_USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_@")
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 15.0

_running: weakref.WeakSet[MailServer] = weakref.WeakSet()


@dataclass(frozen=True)
class MailUser:
    """A mailbox's login (what the `mail_user` fixture returns)."""

    email: str
    password: str


class DovecotError(RuntimeError):
    """Dovecot failed to start/stop, or a doveadm command failed."""


def dovecot_binary() -> str | None:
    """Path of the `dovecot` master binary, or None when Dovecot is not installed."""
    return shutil.which("dovecot") or _existing("/usr/sbin/dovecot")


def _doveadm_binary() -> str:
    found = shutil.which("doveadm") or _existing("/usr/bin/doveadm")
    if found is None:
        raise DovecotError("doveadm is not installed (scripts/install-test-deps installs it)")
    return found


def _existing(path: str) -> str | None:
    return path if os.access(path, os.X_OK) else None


def doveadm(config: Path, *args: str, stdin: bytes | None = None, ok_codes: Sequence[int] = (0,)) -> str:
    """Run `doveadm -c CONFIG ARGS...` and return its stdout; raise DovecotError on other exit codes.

    Output goes to temporary files, never pipes: anything that forks a daemon would keep a pipe
    open and hang the call.
    """
    cmd = [_doveadm_binary(), "-c", str(config), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            cmd,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            timeout=60,
            check=False,
        )
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode not in ok_codes:
        raise DovecotError(f"{shlex.join(cmd)} exited {proc.returncode}: {stderr.strip() or stdout.strip()}")
    return stdout


class MailServer:
    """A Dovecot instance; build it with start_mail_server()."""

    host: str
    imap_port: int
    imaps_port: int
    lmtp_port: int
    ca_file: str  # the self-signed certificate itself: trust it to verify "localhost"/127.0.0.1
    key_file: str
    directory: Path
    config_path: Path
    log_path: Path

    def __init__(
        self, directory: Path, *, special_use: bool = True, idle: bool = True, extra_config: str = ""
    ) -> None:
        self.host = HOST
        self.directory = directory
        self.imap_port, self.imaps_port, self.lmtp_port = free_ports(3)
        cert, key = make_self_signed(directory / "tls")
        self.ca_file, self.key_file = str(cert), str(key)
        self.config_path = directory / "dovecot.conf"
        self.log_path = directory / "log" / "dovecot.log"
        self._master_out = directory / "log" / "master.out"
        self._run_dir = self._choose_run_dir()
        self._passwords: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._render_config(cert, key, special_use=special_use, idle=idle, extra_config=extra_config)

    # ---- lifecycle ----

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the master in the foreground (-F) as our child, so we can reap it: this machine's
        pid 1 may not reap orphans, and a zombie master makes the next start fail with
        "Dovecot is already running"."""
        if self.running:
            return
        binary = dovecot_binary()
        if binary is None:
            raise DovecotError("dovecot is not installed (scripts/install-test-deps installs it)")
        self._prepare_dirs()
        # A pid file left by a killed run would make Dovecot refuse to start.
        (self._run_dir / "master.pid").unlink(missing_ok=True)
        with self._master_out.open("ab") as out:
            self._process = subprocess.Popen(
                [binary, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches pytest, which stops us cleanly
            )
        _running.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM the master (PID from run/master.pid), reap it, and wait until the ports close."""
        process, self._process = self._process, None
        _running.discard(self)
        pid = self._read_pid() or (process.pid if process is not None else None)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if process is not None:
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: only Dovecot's processes
                process.wait()
        # Login processes hold the listening sockets and exit just after the master.
        deadline = time.monotonic() + _STOP_TIMEOUT
        while any(port_open(self.host, p) for p in self._ports()):
            if time.monotonic() > deadline:
                raise DovecotError(f"Dovecot ports still open after stop\n{self.log_tail()}")
            time.sleep(0.02)
        (self._run_dir / "master.pid").unlink(missing_ok=True)
        if self._run_dir != self.directory / "run":
            shutil.rmtree(self._run_dir, ignore_errors=True)  # the short /tmp one; start() recreates it

    def log_tail(self, lines: int = 60) -> str:
        """The end of Dovecot's log (and of the master's own stdout/stderr) for failure reports."""
        parts = []
        for path in (self.log_path, self._master_out):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(parts)

    def doveadm(self, *args: str, stdin: bytes | None = None, ok_codes: Sequence[int] = (0,)) -> str:
        return doveadm(self.config_path, *args, stdin=stdin, ok_codes=ok_codes)

    # ---- users ----

    def add_user(
        self, email: str, password: str, folders: Sequence[str] = ("Sent", "Drafts", "Trash")
    ) -> None:
        """Add a user (one passwd-file of its own) and create + subscribe `folders`.

        Special-use flags come from the config by folder *name* (Sent, Drafts, Trash, Junk, Archive)
        and are only announced once the folder exists; "Sent Items" gets none.
        """
        user = _user_name(email)
        if user in self._passwords:
            raise ValueError(f"user {user} already exists")
        self._write_passwd(user, password)
        self._passwords[user] = password
        if folders:
            self.doveadm("mailbox", "create", "-s", "-u", user, *folders)

    def set_password(self, email: str, password: str) -> None:
        """Change a password; on return, new logins need it. Open sessions survive; kick() drops them.

        Dovecot's auth re-stat()s a passwd-file at most once per ioloop second and compares only
        its whole-second mtime and size. So the file gets a strictly newer mtime, and we wait until
        the next whole second has begun (at most ~1.05 s; the recipe's flat 1.1 s also works).
        """
        user = _user_name(email)
        if user not in self._passwords:
            raise KeyError(user)
        self._write_passwd(user, password)
        self._passwords[user] = password
        now = time.time()
        time.sleep(math.floor(now) + 1 - now + 0.05)

    def has_user(self, email: str) -> bool:
        return email.lower() in self._passwords

    def check_password(self, email: str, password: str) -> bool:
        """The user's current password is `password` (used by the provider's SMTP AUTH)."""
        return self._passwords.get(email.lower()) == password

    def kick(self, email: str) -> None:
        """Drop the user's open IMAP sessions (clients see `* BYE` / the connection close)."""
        # 68 (EX_NOUSER): "no users kicked" — nothing was connected.
        self.doveadm("kick", _user_name(email), ok_codes=(0, 68))

    # ---- mail ----

    def deliver(self, rcpt: str, message: bytes, mail_from: str = "") -> None:
        """Deliver into rcpt's INBOX over LMTP, as the provider's MTA would (adds Return-Path,
        Delivered-To and Received headers). One recipient per call: smtplib reads only one of
        LMTP's per-recipient replies to DATA."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], message)

    def save(self, email: str, folder: str, message: bytes) -> None:
        """Store a message straight into a folder (which must exist), e.g. a provider-filed Sent copy."""
        self.doveadm("save", "-u", _user_name(email), "-m", folder, stdin=message)

    def messages(self, email: str, folder: str = "INBOX") -> list[bytes]:
        """Raw messages in UID order, exactly as IMAP serves them (CRLF line endings)."""
        return [body for _flags, body in self._fetch(email, folder, "(FLAGS BODY.PEEK[])")]

    def flags(self, email: str, folder: str = "INBOX") -> list[set[str]]:
        """Flags per message in UID order; the per-session \\Recent is left out."""
        return [flags for flags, _body in self._fetch(email, folder, "(FLAGS)")]

    def folders(self, email: str) -> list[str]:
        """Folder names (UTF-8, "/" separated), sorted."""
        out = self.doveadm("mailbox", "list", "-u", _user_name(email))
        return sorted(line for line in out.splitlines() if line)

    def set_uidvalidity(self, email: str, folder: str, value: int) -> None:
        self.doveadm("mailbox", "update", "--uid-validity", str(value), "-u", _user_name(email), folder)

    # ---- internals ----

    def _ports(self) -> tuple[int, int, int]:
        return self.imap_port, self.imaps_port, self.lmtp_port

    def _choose_run_dir(self) -> Path:
        run = self.directory / "run"
        if len(str(run)) <= _MAX_RUN_DIR_LEN:
            return run
        # Deep pytest tmp paths would overflow sockaddr_un; keep sockets in a short /tmp dir and
        # leave a symlink where one would look for them.
        short = Path(tempfile.mkdtemp(prefix="dovecot-run-", dir="/tmp"))
        if not run.is_symlink():
            run.symlink_to(short)
        return short

    def _render_config(
        self, cert: Path, key: Path, *, special_use: bool, idle: bool, extra_config: str
    ) -> None:
        text = TEMPLATE.read_text()
        if not special_use:
            # Whole marker lines only: the template's header comment names the markers too.
            start = text.index("\n#BEGIN_SPECIAL_USE\n")
            end = text.index("\n#END_SPECIAL_USE\n", start)
            text = text[:start] + text[end:]
        capability = ""
        if not special_use or not idle:
            dropped = {"SPECIAL-USE"} if not special_use else set()
            dropped |= {"IDLE"} if not idle else set()
            capability = "imap_capability = " + " ".join(
                c for c in DEFAULT_IMAP_CAPABILITY if c not in dropped
            )
        values = {
            # First, so that extra_config may use the placeholders below too.
            "@EXTRA@": extra_config,
            "@DIR@": str(self.directory),
            "@RUN_DIR@": str(self._run_dir),
            "@IMAP_PORT@": str(self.imap_port),
            "@IMAPS_PORT@": str(self.imaps_port),
            "@LMTP_PORT@": str(self.lmtp_port),
            "@MAIL_UID@": str(MAIL_UID),
            "@MAIL_GID@": str(MAIL_GID),
            "@TLS_CERT@": str(cert),
            "@TLS_KEY@": str(key),
            "@IMAP_CAPABILITY@": capability,
        }
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        self.config_path.write_text(text)

    def _prepare_dirs(self) -> None:
        for sub in ("log", "state", "users"):
            (self.directory / sub).mkdir(mode=0o755, exist_ok=True)
        # auth runs as the "dovecot" user and must read users/ and its files.
        (self.directory / "users").chmod(0o755)
        self._run_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._run_dir.chmod(0o755)
        mail = self.directory / "mail"
        mail.mkdir(mode=0o700, exist_ok=True)
        os.chown(mail, MAIL_UID, MAIL_GID)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise DovecotError(f"dovecot exited with status {code} while starting\n{self.log_tail()}")
            if all(port_open(self.host, p) for p in (self.imaps_port, self.lmtp_port)) and imap_greets(
                self.host, self.imap_port
            ):
                return
            if time.monotonic() > deadline:
                raise DovecotError(f"dovecot not ready after {_START_TIMEOUT:.0f} s\n{self.log_tail()}")
            time.sleep(0.02)

    def _read_pid(self) -> int | None:
        try:
            return int((self._run_dir / "master.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _write_passwd(self, user: str, password: str) -> None:
        if not password or any(c in password for c in ":\t\r\n\x01"):
            raise ValueError("password must be non-empty without ':' or control characters (passwd-file)")
        path = self.directory / "users" / user
        old_mtime = path.stat().st_mtime if path.exists() else 0.0
        tmp = path.with_name(f".{user}.tmp")
        # {PLAIN} explicitly, so a password starting with "{" is not read as a scheme prefix.
        tmp.write_text(f"{user}:{{PLAIN}}{password}::::::\n")
        tmp.chmod(0o644)
        # Auth compares only whole-second mtime and size: make every version's mtime newer.
        mtime = max(time.time(), int(old_mtime) + 1)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)

    @contextlib.contextmanager
    def _imap(self, email: str) -> Iterator[imaplib.IMAP4]:
        """A pre-authenticated IMAP session on the imap binary's stdin/stdout (`doveadm exec imap`):
        no password, TLS or connection limits involved, and no \\Seen side effects with EXAMINE."""
        argv = [_doveadm_binary(), "-c", str(self.config_path), "exec", "imap", "-u", _user_name(email)]
        # A standalone imap process logs to stderr: keep that in the log dir, not the test output.
        cmd = f"{shlex.join(argv)} 2>>{shlex.quote(str(self._master_out))}"
        conn = imaplib.IMAP4_stream(cmd)
        try:
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def _fetch(self, email: str, folder: str, items: str) -> list[tuple[set[str], bytes]]:
        with self._imap(email) as conn:
            typ, data = conn.select(_quote_mailbox(folder), readonly=True)
            if typ != "OK":
                raise DovecotError(f"EXAMINE {folder} for {email} failed: {data!r}")
            if int(data[0] or b"0") == 0:
                return []
            typ, data = conn.uid("FETCH", "1:*", items)
            if typ != "OK":
                raise DovecotError(f"UID FETCH in {folder} for {email} failed: {data!r}")
        result: list[tuple[set[str], bytes]] = []
        for item in data:
            # A literal arrives as (b"1 (UID 1 FLAGS (...) BODY[] {n}", body); b")" closes it.
            head, body = (item[0], item[1]) if isinstance(item, tuple) else (item, b"")
            if not isinstance(head, bytes) or b"UID" not in head:
                continue  # the b")" that closes a literal
            flags = {f.decode() for f in imaplib.ParseFlags(head)} - {"\\Recent"}
            result.append((flags, body))
        return result


def start_mail_server(
    base_dir: Path, special_use: bool = True, idle: bool = True, extra_config: str = ""
) -> MailServer:
    """Start a Dovecot instance in `base_dir` (created, made 0755).

    special_use=False models an old server: no SPECIAL-USE capability and no special-use flags.
    idle=False leaves IDLE out of CAPABILITY (the command still works) for poll-fallback tests.
    extra_config is appended to dovecot.conf (later settings override earlier ones).
    """
    base_dir = Path(base_dir).absolute()
    base_dir.mkdir(parents=True, exist_ok=True)
    base_dir.chmod(0o755)
    _ensure_traversable(base_dir)
    server = MailServer(base_dir, special_use=special_use, idle=idle, extra_config=extra_config)
    server.start()
    return server


def _ensure_traversable(path: Path) -> None:
    """uid 5000 (mail) and "dovecot" (auth) must traverse every ancestor. pytest's and mkdtemp's
    dirs are 0700: under the temp root, add o+x (traverse, not list); elsewhere, refuse clearly."""
    tmp_root = Path(tempfile.gettempdir()).resolve()
    for p in (path, *path.parents):
        mode = p.stat().st_mode
        if mode & stat.S_IXOTH:
            continue
        resolved = p.resolve()
        if resolved != tmp_root and tmp_root in resolved.parents:
            p.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
        else:
            raise DovecotError(f"{p} is not traversable by other users (mode {oct(mode)}); uid 5000 needs it")


def _user_name(email: str) -> str:
    user = email.lower()
    if user.count("@") != 1 or not set(user) <= _USERNAME_CHARS or user.startswith("."):
        raise ValueError(f"{email!r}: Dovecot user names here are a-z 0-9 . - _ and one @")
    return user


def _quote_mailbox(name: str) -> str:
    encoded = encode_mailbox(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


@atexit.register
def _stop_all() -> None:
    # Last resort when the test process exits without fixture teardown: leave no daemons behind.
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()

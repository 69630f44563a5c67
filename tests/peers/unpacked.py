"""Debian packages that cannot be installed beside Dovecot (Courier, Cyrus: all provide `imap-server`),
fetched with `apt-get download` and unpacked with `dpkg-deb -x` into one cached tree.

The tree lives in INBOXLINK_PEERS_CACHE (default /var/cache/inboxlink-peers): not under $HOME,
because the servers' mail processes run as uid 5000, which must read the binaries, and /root is 0700.
Downloaded once; later runs reuse it. `ensure()` returns the tree or a reason why it cannot be had.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("INBOXLINK_PEERS_CACHE", "/var/cache/inboxlink-peers"))

COURIER = (
    "courier-imap courier-base courier-authlib courier-authlib-userdb courier-authdaemon "
    "libcourier-unicode4 libgamin0 gamin libpcre3 libidn12 libltdl7"
).split()
# cyrus-common's own libraries link libclamav (virus scanning), libical, libxapian and libzephyr.
CYRUS = (
    "cyrus-imapd cyrus-common libical3 libxapian30 libzephyr4 libclamav12 libmspack0 libpcre3 "
    "sasl2-bin db-util db5.3-util"
).split()
POSTFIX = ["postfix"]


def root() -> Path:
    return CACHE / "root"


def library_path() -> str:
    base = root()
    dirs = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib", "usr/lib/courier-authlib"]
    dirs += ["usr/lib/postfix", "usr/lib/x86_64-linux-gnu/sasl2"]
    return ":".join(str(base / d) for d in dirs)


def ensure(packages: list[str], marker: str) -> str | None:
    """Download and unpack those of `packages` not unpacked yet (a stamp per package, so a
    package added to a list later is fetched too), then check `marker` (a path in the tree).
    None when the tree is ready, else why not (for a skip message)."""
    if not _missing(packages) and (root() / marker).exists():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    # One fetch at a time: parallel test runs share the tree (and apt-get's partial downloads).
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _fetch(_missing(packages), marker)


def _missing(packages: list[str]) -> list[str]:
    return [p for p in packages if not (CACHE / "stamps" / p).exists()]


def _fetch(packages: list[str], marker: str) -> str | None:
    if not packages:
        return None if (root() / marker).exists() else f"{marker} missing from the unpacked tree"
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return "apt-get/dpkg-deb not available: the peer's Debian packages cannot be had"
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    CACHE.chmod(0o755)
    with tempfile.TemporaryFile() as out:
        done = subprocess.run(
            ["apt-get", "download", *packages], cwd=debs, stdout=out, stderr=out, timeout=600, check=False
        )
        out.seek(0)
        log = out.read().decode(errors="replace")
    if done.returncode != 0:
        return f"apt-get download {' '.join(packages)} failed: {log.strip()[-500:]}"
    root().mkdir(parents=True, exist_ok=True)
    (CACHE / "stamps").mkdir(exist_ok=True)
    for package in packages:
        for deb in sorted(debs.glob(f"{package}_*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root())], check=True, timeout=120)
        (CACHE / "stamps" / package).touch()
    if not (root() / marker).exists():
        return f"{marker} missing after unpacking {' '.join(packages)}"
    return None


def can_unshare() -> str | None:
    """Courier's paths (/etc/courier, /run/courier) are compiled in: it runs in a private mount
    namespace where the test's own directories are mounted there. None when that works."""
    if os.geteuid() != 0:
        return "needs root (a private mount namespace and uid 5000 mail processes)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    done = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10, check=False)
    if done.returncode != 0:
        return f"unshare -m is not permitted here: {done.stderr.decode(errors='replace').strip()}"
    return None


def make_traversable(directory: Path) -> None:
    """Let the servers' unprivileged processes reach `directory` (pytest's temp dirs are 0700)."""
    for p in (directory, *directory.parents):
        if not p.stat().st_mode & 0o001:
            p.chmod(p.stat().st_mode | 0o001)
        if p == Path("/tmp"):
            break

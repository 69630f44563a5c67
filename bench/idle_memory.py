"""RSS per IDLE inbox: inboxlink's monitors versus a bare asyncio TLS loop, same run, same Dovecot.

    .venv/bin/python bench/idle_memory.py [--n 1000] [--trace]

Starts its own Dovecot (tests/peers) with raised limits (imap processes serve many clients each,
mail_max_userip_connections, the open-files limit), N users, and an SSL_CERT_FILE bundle holding the
system store (/etc/ssl/certs/ca-certificates.crt) plus the suite's CA, as an installation with one
private CA would have. Then, each in a fresh child process so that neither sees the other's heap:

- floor: one asyncio loop opens N TLS sessions (one shared SSLContext, default StreamReader),
  LOGIN, EXAMINE INBOX, IDLE: what any asyncio IMAP client must pay;
- inboxlink: a Runtime on SQLite with N inbox rows and the Supervisor (what `inboxlink worker` runs),
  until every monitor is connected and waiting in IDLE.

Each child reports its RSS (VmRSS) before the first connection and once all N idle (after a settle
and gc); per inbox = growth / N. `--trace` has the inboxlink child print tracemalloc's top sites
by size (Python heap only; OpenSSL's and the kernel's memory show only in RSS). Goal: ≤ 100 KiB per
inbox at 1,000. Always exits 0: a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import secrets
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

SYSTEM_STORE = Path("/etc/ssl/certs/ca-certificates.crt")
GOAL_KIB = 100.0
LIMITS = """
service imap {
  service_count = 0
  client_limit = 100
  process_limit = 100
}
mail_max_userip_connections = 5000
"""


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def raise_nofile() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def settle() -> int:
    await asyncio.sleep(3)
    gc.collect()
    await asyncio.sleep(1)
    return rss_kib()


# ---- the floor ----------------------------------------------------------------------------------


async def floor(port: int, accounts: list[tuple[str, str]]) -> dict[str, int]:
    context = ssl.create_default_context()
    before = rss_kib()
    gate = asyncio.Semaphore(50)
    sessions: list[asyncio.StreamWriter] = []

    async def until(reader: asyncio.StreamReader, prefix: bytes) -> None:
        while not (line := await reader.readline()).startswith(prefix):
            if not line:
                raise ConnectionError("closed")

    async def one(user: str, password: str) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="localhost"
            )
            await until(reader, b"* OK")
            writer.write(f'a1 LOGIN "{user}" "{password}"\r\n'.encode())
            await until(reader, b"a1 OK")
            writer.write(b"a2 EXAMINE INBOX\r\n")
            await until(reader, b"a2 OK")
            writer.write(b"a3 IDLE\r\n")
            await until(reader, b"+")
            sessions.append(writer)

    await asyncio.gather(*(one(u, p) for u, p in accounts))
    after = await settle()
    for writer in sessions:
        writer.close()
    return {"before": before, "after": after, "sessions": len(sessions)}


# ---- inboxlink ----------------------------------------------------------------------------------


async def inboxlink(
    port: int, accounts: list[tuple[str, str]], data_dir: Path, trace: bool
) -> dict[str, int]:
    from bench.harness import insert_inboxes
    from inboxlink.config import load_settings
    from inboxlink.imap.transport import Connection
    from inboxlink.services.platform.runtime import Runtime
    from inboxlink.storage.db import migrate
    from inboxlink.sync.supervisor import Supervisor

    settings = load_settings({"INBOXLINK_DATA_DIR": str(data_dir), "INBOXLINK_ALLOW_PRIVATE_HOSTS": "1"})
    await asyncio.to_thread(migrate, settings.database_url)
    rt = Runtime.create(settings)
    await insert_inboxes(rt, port, accounts)
    idling = 0
    original = Connection._idle

    async def counted(self: Connection, tag: str, timeout: float) -> list[str]:
        nonlocal idling
        idling += 1
        try:
            return await original(self, tag, timeout)
        finally:
            idling -= 1

    Connection._idle = counted  # type: ignore[method-assign]  # the bench counts who waits in IDLE
    gc.collect()
    if trace:
        import tracemalloc

        tracemalloc.start(8)
    before = rss_kib()
    supervisor = Supervisor(rt, claim_batch=len(accounts))
    task = asyncio.create_task(supervisor.run())
    started = time.monotonic()
    while idling < len(accounts) and time.monotonic() - started < 60 + len(accounts) / 5:
        await asyncio.sleep(0.5)
    reached = idling
    after = await settle()
    if trace:
        snapshot = tracemalloc.take_snapshot()
        stats = snapshot.statistics("lineno")
        print(
            f"  tracemalloc: {sum(s.size for s in stats) / 1024 / len(accounts):.1f} KiB per inbox on the Python heap; top sites:"
        )
        for stat in stats[:15]:
            frame = stat.traceback[0]
            print(
                f"    {stat.size / len(accounts):8.0f} B/inbox  {stat.count / len(accounts):6.1f} blocks  {frame.filename.replace(str(ROOT) + '/', '')}:{frame.lineno}"
            )
        tracemalloc.stop()
    print(f"  (context builds: {rt.trust.builds})")
    supervisor.stop()
    await asyncio.wait_for(task, 120)
    await rt.close()
    return {"before": before, "after": after, "sessions": reached}


# ---- the run ------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    raise_nofile()
    accounts = [tuple(a) for a in json.loads(Path(args.accounts).read_text())]
    if args.child == "floor":
        result = asyncio.run(floor(args.port, accounts))  # type: ignore[arg-type]
    else:
        result = asyncio.run(inboxlink(args.port, accounts, Path(args.data_dir), args.trace))  # type: ignore[arg-type]
    print("RESULT " + json.dumps(result), flush=True)


def run_child(
    kind: str, port: int, accounts_file: Path, env: dict[str, str], extra: list[str]
) -> dict[str, int]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--port",
        str(port),
        "--accounts",
        str(accounts_file),
        *extra,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, check=False)
    result: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        else:
            print(line)
    if not result:
        print(proc.stderr[-3000:])
        raise RuntimeError(f"the {kind} child failed ({proc.returncode})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc's top sites in the inboxlink child")
    parser.add_argument("--child", choices=["floor", "inboxlink"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--accounts", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from tests.peers.dovecot import start_mail_server

    print(f"open files limit raised to {raise_nofile()}")
    with tempfile.TemporaryDirectory(prefix="idle-memory-") as tmp:
        work = Path(tmp)
        server = start_mail_server(work / "dovecot", extra_config=LIMITS)
        try:
            tag = secrets.token_hex(3)
            accounts = [(f"im{i}-{tag}@example.test", secrets.token_urlsafe(12)) for i in range(args.n)]
            for address, password in accounts:
                server.add_user(address, password, folders=())
            accounts_file = work / "accounts.json"
            accounts_file.write_text(json.dumps(accounts))
            bundle = work / "bundle.pem"
            bundle.write_bytes(SYSTEM_STORE.read_bytes() + Path(server.ca_file).read_bytes())
            env = {**os.environ, "SSL_CERT_FILE": str(bundle), "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"}
            print(
                f"{args.n} Dovecot users; SSL_CERT_FILE = system store + the suite's CA ({bundle.stat().st_size // 1024} KiB)"
            )
            base = run_child("floor", server.imaps_port, accounts_file, env, [])
            extra = ["--data-dir", str(work / "data")] + (["--trace"] if args.trace else [])
            ours = run_child("inboxlink", server.imaps_port, accounts_file, env, extra)
        except Exception:
            print(
                "\n".join(line for line in server.log_tail(400).splitlines() if ": Info: " not in line)[
                    -3000:
                ]
            )
            raise
        finally:
            server.stop()
    # Per session that reached IDLE (all of them, unless the run says otherwise).
    per = {
        k: (v["after"] - v["before"]) / max(1, v["sessions"])
        for k, v in (("floor", base), ("inboxlink", ours))
    }
    print(
        f"floor (bare asyncio TLS + IDLE): {base['sessions']}/{args.n} idle, RSS {base['before'] / 1024:.0f} → {base['after'] / 1024:.0f} MiB: {per['floor']:.1f} KiB per inbox"
    )
    print(
        f"inboxlink (Supervisor + monitors): {ours['sessions']}/{args.n} in IDLE, RSS {ours['before'] / 1024:.0f} → {ours['after'] / 1024:.0f} MiB: {per['inboxlink']:.1f} KiB per inbox"
    )
    print(
        f"ratio inboxlink / floor: {per['inboxlink'] / per['floor']:.2f}; goal ≤ {GOAL_KIB:.0f} KiB per inbox: {per['inboxlink'] / GOAL_KIB:.2f} of the goal"
    )


if __name__ == "__main__":
    main()

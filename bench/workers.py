"""Three `inboxlink worker` processes sharing N inboxes on one PostgreSQL (issue 12, item 7).

    .venv/bin/python bench/workers.py [--inboxes 1000] [--small 100] [--ttl 10] [--other-host]

1. SQL statements per supervisor pass, at --small and at --inboxes inboxes: three Supervisors in this
   process (the code `inboxlink worker` runs; monitors not started, so only the lease machinery
   talks to the database) join one after the other until the spread is even; every statement is
   counted with a SQLAlchemy before_cursor_execute listener. (The heartbeat, one UPDATE every
   TTL / 4, runs beside the passes and is not in these counts.) Flat in N means the same count at
   both sizes.
2. Three real worker processes (own data directories, shared key) on the suite's Dovecot (limits
   raised as in bench/idle_memory.py): time from start to an even spread of the leases and until
   every inbox has been synced once; then kill -9 of one, a reply delivered to each of its inboxes
   at once, and the time until all its inboxes are held by the others and every one of those
   replies is logged; 0 lost, 0 doubled is checked in the database. The killed child is reaped at
   once (a same-host death, seen at the survivors' next pass); `--other-host` leaves it unreaped so
   that the survivors cannot tell, as with a host gone: then the leases move when the TTL lapses.

Always exits 0: a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from sqlalchemy import event  # noqa: E402

from bench.harness import check_inotify, insert_inboxes  # noqa: E402
from bench.idle_memory import LIMITS, raise_nofile  # noqa: E402
from inboxlink.config import load_settings  # noqa: E402
from inboxlink.services.platform.runtime import Runtime  # noqa: E402
from inboxlink.storage.db import migrate  # noqa: E402
from inboxlink.sync.supervisor import Supervisor  # noqa: E402
from tests.support import fleet  # noqa: E402
from tests.support.app import fresh_postgres_db, postgres_reachable  # noqa: E402

WORKERS = 3


class LeasesOnly(Supervisor):
    """The worker's supervisor without its monitors: what remains is the lease traffic of a pass."""

    def _start(self, inbox_id: int, secret: bytes) -> None:
        return None


async def runtime(url: str, data: Path, key: str) -> Runtime:
    settings = load_settings(
        {"INBOXLINK_DATABASE_URL": url, "INBOXLINK_DATA_DIR": str(data), "INBOXLINK_SECRET_KEY": key}
    )
    await asyncio.to_thread(migrate, settings.database_url)
    return Runtime.create(settings)


# ---- 1: statements per pass ---------------------------------------------------------------------


async def statements_per_pass(size: int, work: Path) -> dict[str, Any]:
    """Counts of the passes of three supervisors joining one after the other over `size` inboxes."""
    with fresh_postgres_db() as url:
        rt = await runtime(url, work / f"stmts-{size}", fleet.fleet_env(url, "", 30)["INBOXLINK_SECRET_KEY"])
        try:
            accounts = [(f"st{i}@example.test", "x") for i in range(size)]
            await insert_inboxes(rt, 1, accounts)
            count = 0

            def counted(*_args: Any) -> None:
                nonlocal count
                count += 1

            event.listen(rt.engine.sync_engine, "before_cursor_execute", counted)
            sups = [LeasesOnly(rt, lease_ttl=30) for _ in range(WORKERS)]
            passes: list[int] = []
            steady_ms: list[float] = []
            for joined in range(1, WORKERS + 1):
                for _round in range(size // sups[0].claim_batch + 3):  # until nobody moves
                    for sup in sups[:joined]:
                        before, started = count, time.perf_counter()
                        await sup.reconcile()
                        passes.append(count - before)
                        steady_ms.append((time.perf_counter() - started) * 1000)
            spread = sorted(len(s.held) for s in sups)
            steady = passes[-WORKERS:]  # the last round: the spread is even, nothing moves
            return {
                "min": min(passes),
                "max": max(passes),
                "steady": max(steady),
                "steady_ms": sum(steady_ms[-WORKERS:]) / WORKERS,
                "passes": len(passes),
                "spread": spread,
            }
        finally:
            await rt.close()


# ---- 2: real worker processes -------------------------------------------------------------------


async def until(check: Any, what: str, timeout: float, interval: float = 0.1) -> float:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(interval)
    return time.monotonic()


async def fleet_run(args: argparse.Namespace, work: Path) -> None:
    from tests.peers.dovecot import start_mail_server

    server = start_mail_server(work / "dovecot", extra_config=LIMITS)
    procs: list[fleet.WorkerProcess] = []
    try:
        check_inotify(args.inboxes, may_raise=True)
        with fresh_postgres_db() as url:
            env = fleet.fleet_env(url, server.ca_file, args.ttl)
            rt = await runtime(url, work / "setup", env["INBOXLINK_SECRET_KEY"])
            try:
                started = time.monotonic()
                convs = await fleet.seed(rt, server, args.inboxes)
                print(
                    f"  {args.inboxes} Dovecot users + inbox rows + tracked emails: {time.monotonic() - started:.1f} s"
                )
                await processes(args, rt, server, env, work, convs, procs)
            finally:
                for proc in procs:
                    await asyncio.to_thread(proc.stop)
                await rt.close()
                tracebacks = sum(p.text().count("Traceback") for p in procs)
                print(f"  worker logs: {tracebacks} tracebacks ({', '.join(str(p.log) for p in procs)})")
    finally:
        server.stop()


async def processes(
    args: argparse.Namespace,
    rt: Runtime,
    server: Any,
    env: dict[str, str],
    work: Path,
    convs: list[fleet.Conversation],
    procs: list[fleet.WorkerProcess],
) -> None:
    n = len(convs)
    ids = [c.inbox_id for c in convs]
    started = time.monotonic()
    procs.extend(fleet.WorkerProcess(f"w{i}", work, env).start() for i in range(WORKERS))
    pids = {p.pid for p in procs}

    async def even() -> bool:
        held = await fleet.held_by_pid(rt)
        counts = [len(held.get(pid, ())) for pid in pids]
        return sum(counts) == n and max(counts) - min(counts) <= 1

    spread_at = await until(even, "even spread", 120 + n / 5)
    synced_at = await until(lambda: _all_synced(rt, ids), "every inbox synced once", 300 + n)
    held = await fleet.held_by_pid(rt)
    print(
        f"  3 workers started together: leases evenly spread after {spread_at - started:.1f} s "
        f"({sorted(len(v) for v in held.values())}); every inbox synced once after {synced_at - started:.1f} s"
    )
    before = [fleet.deliver_reply(server, conv, "before") for conv in convs[:: max(1, n // 20)]]
    await until(lambda: _all_logged(rt, before), "replies before the kill", 120)

    victim = procs[-1]
    mine = held[victim.pid]
    targets = [c for c in convs if c.inbox_id in mine]
    victim.signal(signal.SIGKILL)
    killed = time.monotonic()
    if not args.other_host:
        victim.proc.wait(10)  # type: ignore[union-attr]  # reaped: a same-host death survivors can see
    with ThreadPoolExecutor(8) as pool:
        replies = list(
            pool.map(lambda c: fleet.deliver_reply(server, c, "while its worker is dead"), targets)
        )
    delivered = time.monotonic()
    survivors = pids - {victim.pid}

    async def moved() -> bool:
        now_held = await fleet.held_by_pid(rt)
        return mine <= set().union(*(now_held.get(pid, set()) for pid in survivors))

    moved_at = await until(moved, "victim's inboxes held again", 120 + args.ttl)
    logged_at = await until(lambda: _all_logged(rt, replies), "victim's replies logged", 300)
    await asyncio.sleep(2)  # room for a duplicate to appear before counting (a bench, not a test)
    found = await fleet.logged(rt, replies + before)
    lost = sum(1 for rows in found.values() if not rows)
    doubled = sum(1 for rows in found.values() if len(rows) > 1)
    after = await fleet.held_by_pid(rt)
    print(
        f"  kill -9 of one worker ({len(mine)} inboxes; {'unreaped, as on another host' if args.other_host else 'reaped, same host'}; "
        f"TTL {args.ttl:.0f} s); {len(replies)} replies delivered in {delivered - killed:.1f} s"
    )
    print(
        f"  its inboxes held by the survivors after {moved_at - killed:.1f} s ({(moved_at - killed) / args.ttl:.2f} of the TTL); "
        f"all {len(replies)} replies logged after {logged_at - killed:.1f} s; survivors hold {sorted(len(after.get(p, ())) for p in survivors)}"
    )
    print(f"  lost {lost}, doubled {doubled} (of {len(found)} replies checked in the database)")


async def _all_synced(rt: Runtime, ids: list[int]) -> bool:
    return await fleet.followed(rt, ids) == len(ids)


async def _all_logged(rt: Runtime, ids: list[str]) -> bool:
    return all((await fleet.logged(rt, ids)).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inboxes", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100, help="the smaller size for statements per pass")
    parser.add_argument("--ttl", type=float, default=10.0, help="INBOXLINK_LEASE_TTL of the workers")
    parser.add_argument("--other-host", action="store_true", help="leave the killed worker unreaped")
    parser.add_argument("--keep", help="work in this directory and keep it (the workers' logs)")
    args = parser.parse_args()
    reason = postgres_reachable()
    if reason:
        print(f"benchmark skipped: {reason}")
        return
    print(f"open files limit raised to {raise_nofile()}")
    total = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="workers-bench-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            print("SQL statements per supervisor pass (3 supervisors joining one by one, claim batch 200):")
            counts = {}
            for size in (args.small, args.inboxes):
                counts[size] = c = asyncio.run(statements_per_pass(size, work))
                print(
                    f"  {size:>6} inboxes: {c['passes']} passes, {c['min']}–{c['max']} statements per pass, "
                    f"steady pass {c['steady']} statements in {c['steady_ms']:.1f} ms; spread {c['spread']}"
                )
            small, big = counts[args.small], counts[args.inboxes]
            print(
                f"  ratio {args.inboxes} / {args.small} inboxes: max statements per pass {big['max'] / small['max']:.2f}, "
                f"steady pass {big['steady'] / small['steady']:.2f} (flat = 1.00); inboxes ratio {args.inboxes / args.small:.0f}"
            )
            print(
                f"  plus the heartbeat beside the passes: 1 UPDATE every TTL / 4 ({args.ttl / 4:.1f} s at TTL {args.ttl:.0f} s), whatever N"
            )
            print(f"three worker processes, {args.inboxes} inboxes, TTL {args.ttl:.0f} s:")
            asyncio.run(fleet_run(args, work))
        except Exception as exc:  # a benchmark reports and exits 0
            print(f"\nbenchmark aborted: {exc!r}")
    print(f"total run time {time.monotonic() - total:.0f} s")


if __name__ == "__main__":
    main()

"""Three real `inboxlink worker` OS processes on one PostgreSQL and the suite's Dovecot (issue 12):
they share the inboxes evenly (a late one gets its share from the busy ones); kill -9 of one moves
its inboxes to the others with every reply delivered meanwhile logged exactly once; a worker paused
(SIGSTOP) past the lease TTL and resumed writes nothing with the lease it lost. Each process has its
own data directory, as on separate hosts. The lease TTL is short (INBOXLINK_LEASE_TTL) so that
takeovers happen within seconds; every wait is a deadline on database state."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from inboxlink.config import load_settings
from inboxlink.services.platform.runtime import Runtime, as_utc
from inboxlink.storage.db import migrate
from tests.support import fleet
from tests.support.app import fresh_postgres_db, postgres_reachable, wait_for

TTL = 3.0  # seconds; a worker's supervisor passes every TTL / 3
INBOXES = 6  # two per worker


@pytest.fixture
def pg_url() -> Iterator[str]:
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_db() as url:
        yield url


class Fleet:
    def __init__(self, rt: Runtime, base: Path, env: dict[str, str], convs: list[fleet.Conversation]):
        self.rt, self.base, self.env, self.convs = rt, base, env, convs
        self.procs: list[fleet.WorkerProcess] = []

    def start(self, name: str) -> fleet.WorkerProcess:
        proc = fleet.WorkerProcess(name, self.base, self.env).start()
        self.procs.append(proc)
        return proc

    async def spread(self, *procs: fleet.WorkerProcess) -> dict[int, set[int]] | None:
        """{pid: inboxes} once exactly these workers hold every inbox, evenly (within one)."""
        held = await fleet.held_by_pid(self.rt)
        counts = [len(held.get(p.pid, ())) for p in procs]
        everyone = set().union(*held.values()) if held else set()
        if set(held) <= {p.pid for p in procs} and len(everyone) == len(self.convs):
            if sum(counts) == len(self.convs) and max(counts) - min(counts) <= 1:
                return held
        return None

    async def logged_once(self, ids: list[str]) -> dict[str, list[Any]] | None:
        found = await fleet.logged(self.rt, ids)
        return found if all(len(v) >= 1 for v in found.values()) else None

    def status(self) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "inboxlink.cli", "status"],
            env=self.procs[0].env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid})\n{p.text()[-3000:]}" for p in self.procs)


@pytest.fixture
async def workers(pg_url: str, tmp_path: Path, mail_server: Any) -> AsyncIterator[Fleet]:
    env = fleet.fleet_env(pg_url, mail_server.ca_file, TTL)
    settings = load_settings({**env, "INBOXLINK_DATA_DIR": str(tmp_path / "setup")})
    await asyncio.to_thread(migrate, settings.database_url)
    rt = Runtime.create(settings)
    convs = await fleet.seed(rt, mail_server, INBOXES)
    group = Fleet(rt, tmp_path, env, convs)
    try:
        yield group
    finally:
        for proc in group.procs:
            await asyncio.to_thread(proc.stop)
        await rt.close()
        # No traceback, except where PostgreSQL ended a paused worker's fenced transaction (leases.fence).
        chunks = group.logs().split("Traceback (most recent call last)")[1:]
        assert all("idle-in-transaction" in chunk for chunk in chunks), group.logs()


async def test_three_workers_share_evenly_and_a_killed_one_loses_nothing(workers: Fleet, mail_server):
    started = time.monotonic()
    a, b = workers.start("a"), workers.start("b")
    await wait_for(lambda: workers.spread(a, b), timeout=30)  # 3 + 3
    c = workers.start("c")  # joins late: a and b each give one back
    spread = await wait_for(lambda: workers.spread(a, b, c), timeout=30)
    assert sorted(len(s) for s in spread.values()) == [2, 2, 2]
    print(f"even spread 3/3, then 2/2/2 after the late join: {time.monotonic() - started:.1f} s")

    # `inboxlink status` names each inbox's worker and counts per worker.
    out = workers.status()
    for proc in (a, b, c):
        owner_lines = [
            line for line in out.splitlines() if line.startswith("worker ") and f":{proc.pid}:" in line
        ]
        assert len(owner_lines) == 1 and "inboxes=2" in owner_lines[0], out
    for conv in workers.convs:
        [line] = [line for line in out.splitlines() if f"\t{conv.mailbox}\t" in line]
        owner = line.rsplit("worker=", 1)[1]
        assert conv.inbox_id in spread[fleet.owner_pid(owner)], out
    assert "workers: 3 live; inboxes held by none: 0" in out, out

    # Every inbox is really followed: a reply to each is logged, once.
    await wait_for(lambda: fleet.followed(workers.rt, [c.inbox_id for c in workers.convs]), timeout=30)
    first = [fleet.deliver_reply(mail_server, conv, "before the kill") for conv in workers.convs]
    await wait_for(lambda: workers.logged_once(first), timeout=30)

    victims = [conv for conv in workers.convs if conv.inbox_id in spread[c.pid]]
    # Until the test reaps it, c is a zombie that still answers kill(pid, 0): the survivors cannot
    # tell it died, as with a worker on another host, so its leases move only when its TTL lapses.
    c.signal(signal.SIGKILL)
    killed = time.monotonic()
    meanwhile = [fleet.deliver_reply(mail_server, conv, "while its worker is dead") for conv in victims]
    after = await wait_for(lambda: workers.spread(a, b), timeout=TTL + 10)
    moved = time.monotonic() - killed
    assert {conv.inbox_id for conv in victims} <= after[a.pid] | after[b.pid]
    found = await wait_for(lambda: workers.logged_once(meanwhile), timeout=30)
    print(
        f"kill -9: inboxes held again after {moved:.1f} s, replies logged after {time.monotonic() - killed:.1f} s"
    )

    # 0 lost, 0 doubled: once the survivors have synced past them, each reply is one row.
    await wait_for(lambda: workers.logged_once(first + meanwhile), timeout=10)
    found = await fleet.logged(workers.rt, first + meanwhile)
    assert {mid: len(rows) for mid, rows in found.items()} == dict.fromkeys(first + meanwhile, 1)
    assert c.proc is not None and c.proc.wait(5) == -signal.SIGKILL
    out = workers.status()
    assert "workers: 2 live; inboxes held by none: 0" in out, out


async def test_a_worker_paused_past_the_ttl_writes_nothing_with_its_lost_lease(workers: Fleet, mail_server):
    a, b, c = workers.start("a"), workers.start("b"), workers.start("c")
    spread = await wait_for(lambda: workers.spread(a, b, c), timeout=30)
    target = next(conv for conv in workers.convs if conv.inbox_id in spread[a.pid])
    await wait_for(lambda: fleet.followed(workers.rt, [conv.inbox_id for conv in workers.convs]), timeout=30)
    r0 = fleet.deliver_reply(mail_server, target, "a follows it")
    await wait_for(lambda: workers.logged_once([r0]), timeout=20)
    stale_owner, stale_token = (await fleet.lease_rows(workers.rt))[target.inbox_id]
    assert fleet.owner_pid(stale_owner) == a.pid

    # a pauses; past its TTL another worker takes the inbox with a higher token and follows it.
    a.signal(signal.SIGSTOP)
    paused = time.monotonic()

    async def taken() -> tuple[str, int] | None:
        owner, token = (await fleet.lease_rows(workers.rt))[target.inbox_id]
        return (owner, token) if owner != stale_owner else None

    new_owner, new_token = await wait_for(taken, timeout=TTL + 10)
    assert new_token > stale_token
    print(f"SIGSTOP: the inbox was taken over after {time.monotonic() - paused:.1f} s (TTL {TTL:.0f} s)")
    r1 = fleet.deliver_reply(mail_server, target, "the new owner logs this")
    await wait_for(lambda: workers.logged_once([r1]), timeout=20)

    # Now the new owner pauses too, and a reply arrives that, until the new owner's lease expires,
    # only `a` (resumed, its IDLE session still open on that inbox) can see and could log.
    holder = next(p for p in (b, c) if p.pid == fleet.owner_pid(new_owner))
    holder.signal(signal.SIGSTOP)
    frozen = as_utc(await fleet.worker_expiry(workers.rt, holder.pid))
    r2 = fleet.deliver_reply(mail_server, target, "only the stale worker sees this")
    a.signal(signal.SIGCONT)
    resumed = time.monotonic()
    found = await wait_for(lambda: workers.logged_once([r2]), timeout=TTL + 20)
    holder.signal(signal.SIGCONT)
    [logged_at] = found[r2]
    # Logged once, and only after the new owner's lease had lapsed: `a` wrote nothing while its
    # lease was stale (had it advanced the cursor past r2 without logging it, r2 would be lost).
    assert isinstance(frozen, datetime) and as_utc(logged_at) >= frozen, (logged_at, frozen)
    _owner, token = (await fleet.lease_rows(workers.rt))[target.inbox_id]
    assert token > new_token  # logged under a lease taken after the lapse, not under a's old one
    print(f"SIGCONT: r2 logged {time.monotonic() - resumed:.1f} s after a resumed, under token {token}")
    # `a` noticed: its monitor was refused or its supervisor saw the lease gone, and said so.
    assert (
        f"the lease (token {stale_token}) is no longer ours" in a.text()
        or f"inbox {target.inbox_id}: lease taken over" in a.text()
    ), a.text()
    # ...and counts it on its own /metrics (INBOXLINK_METRICS_HTTP: a worker has no API listener).
    seen = a.metrics()
    assert seen["inboxlink_lease_losses_total"] >= 1 and seen["inboxlink_lease_claims_total"] >= 2, seen

    # Everything settles: three workers, two each, every reply exactly once, the inbox healthy.
    await wait_for(lambda: workers.spread(a, b, c), timeout=30)
    counts = {mid: len(rows) for mid, rows in (await fleet.logged(workers.rt, [r0, r1, r2])).items()}
    assert counts == {r0: 1, r1: 1, r2: 1}
    out = workers.status()
    [line] = [line for line in out.splitlines() if f"\t{target.mailbox}\t" in line]
    assert "\tconnected\t" in line and "last_error=-" in line, out

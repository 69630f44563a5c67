"""Matching cost per incoming message with 10,000 and with 1,000,000 tracked ids, SQLite and PostgreSQL.

    .venv/bin/python bench/match_scale.py [--sizes 10000 1000000] [--messages 2000] [--backends sqlite postgresql]

For each backend (a fresh database migrated to head; PostgreSQL at INBOXLINK_TEST_PG or
postgresql://postgres@127.0.0.1:5432/test, a throw-away database) and each size: bulk-load that many
tracked ids (team scope, one email row they point to), ANALYZE, then time what a monitor does per
incoming message, `services.mail.replies.lookup_tracked` with the message's ids (its Message-ID,
In-Reply-To and two References: three of four unknown, one in two messages a hit) over the inbox's
visible scopes, on one connection as the folder pass uses it. Prints µs per message (median of 5
rounds after one warm-up) and the ratio of the largest size to the smallest: goal flat within noise (≈ 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from sqlalchemy import create_engine as create_sync_engine  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench.harness import sent_email_row  # noqa: E402
from inboxlink.domain.tracking import TEAM, visible_scopes  # noqa: E402
from inboxlink.services.mail.replies import lookup_tracked  # noqa: E402
from inboxlink.services.platform.runtime import now  # noqa: E402
from inboxlink.storage.db import create_engine, migrate, sync_url  # noqa: E402
from inboxlink.storage.tables import emails, teams, threads, tracked_ids  # noqa: E402
from tests.support.app import fresh_postgres_db, postgres_reachable  # noqa: E402

BATCH = 20_000


def load(url: str, size: int, start: int) -> tuple[int, int]:
    """Top the table up to `size` ids (ids start..size-1); returns (team_id, email_id)."""
    engine = create_sync_engine(sync_url(url))
    with engine.begin() as conn:
        team = conn.execute(text("SELECT id FROM teams")).scalar()
        if team is None:
            team = conn.execute(insert(teams).values(name="bench", created_at=now())).inserted_primary_key[0]
            thread = conn.execute(
                insert(threads).values(team_id=team, created_at=now())
            ).inserted_primary_key[0]
            conn.execute(insert(emails).values(**sent_email_row(team, thread, "anchor@bench")))
        email = conn.execute(text("SELECT id FROM emails")).scalar()
    for lo in range(start, size, BATCH):
        rows = [
            {"team_id": team, "message_id": f"tracked-{i}@bench.example", "scope": TEAM, "email_id": email}
            for i in range(lo, min(size, lo + BATCH))
        ]
        with engine.begin() as conn:
            conn.execute(insert(tracked_ids), rows)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return int(team), int(email)


async def measure(url: str, team: int, size: int, messages: int, rounds: int) -> float:
    engine = create_engine(url)
    scopes = visible_scopes(1, 1)
    per: list[float] = []
    async with engine.connect() as conn:
        for r in range(rounds):
            started = time.perf_counter()
            for m in range(messages):
                hit = f"tracked-{(m * 7919 + r) % size}@bench.example"
                ids = [
                    f"<new-{r}-{m}@elsewhere>",
                    hit if m % 2 else f"<other-{m}@x>",
                    f"<ref-{m}@y>",
                    f"<ref2-{m}@y>",
                ]
                found = await lookup_tracked(conn, team, ids, scopes)
                assert (hit in found) == bool(m % 2)
            per.append((time.perf_counter() - started) / messages * 1e6)
    await engine.dispose()
    return statistics.median(per[1:])  # the first round warms caches and the connection


def run_backend(name: str, url: str, sizes: list[int], messages: int) -> None:
    migrate(url)
    loaded = 0
    results: list[tuple[int, float]] = []
    for size in sorted(sizes):
        started = time.monotonic()
        team, _email = load(url, size, loaded)
        loaded = size
        took = time.monotonic() - started
        cost = asyncio.run(measure(url, team, size, messages, 6))
        results.append((size, cost))
        print(f"  {name}: {size:>9,} tracked ids (loaded in {took:.0f} s): {cost:7.1f} µs per message")
    if len(results) > 1:
        print(
            f"  {name}: ratio {results[-1][0]:,} / {results[0][0]:,} ids = {results[-1][1] / results[0][1]:.2f} (goal ≈ 1.0)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument(
        "--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    print(f"{args.messages} messages per round, 5 rounds, median; 4 ids per message, one hit in two messages")
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory(prefix="match-scale-") as tmp:
            run_backend("sqlite", f"sqlite:///{tmp}/bench.db", args.sizes, args.messages)
    if "postgresql" in args.backends:
        if (reason := postgres_reachable()) is not None:
            print(f"  postgresql: skipped ({reason})")
            return
        with fresh_postgres_db() as url:
            run_backend("postgresql", url, args.sizes, args.messages)


if __name__ == "__main__":
    main()

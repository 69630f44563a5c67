"""Where to parse: the event loop's lag while a CPU-heavy parse runs in a thread or in a process.

    .venv/bin/python bench/parse_offload.py [--seconds 6]

A ticker on the loop asks for a 10 ms sleep over and over and records how late each wake-up is (the
lag every request on the loop would see). Meanwhile the 17 MB HTML reply of bench/hostile_mail.py
is parsed again and again — with the caps, ~1 s of mostly pure-Python work each (the HTML-to-text
pass holds the GIL) — first inline on the loop, then in `asyncio.to_thread`, then in the product's
worker process (services.platform.parse_pool), for `--seconds` each. Printed: p50 / p99 / max lag
and the max's ratio to the 1 s limit, plus what a thread cannot do and a process can: stop a parse
at its budget (a frozen worker is killed after 1 s; the call returns). Always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inboxlink.mime.parse import parse_message
from inboxlink.services.platform.parse_pool import ParsePool, ParseTimeout
from tests.support.hostile import big_html

LIMIT = 1.0
TICK = 0.01


async def ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(time.perf_counter() - asked - TICK)


async def measure(name: str, seconds: float, work: object) -> None:
    lags: list[float] = []
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(lags, stop))
    parses = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        await work()  # type: ignore[operator]
        parses += 1
        await asyncio.sleep(0)  # inline work never yields by itself: let the ticker see the loop
    stop.set()
    await tick
    ordered = sorted(lags)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
    print(
        f"{name:>8}: {parses} parses; loop lag p50 {statistics.median(lags) * 1000:6.1f} ms, "
        f"p99 {p99 * 1000:6.1f} ms, max {max(lags) * 1000:6.1f} ms = {max(lags) / LIMIT:.2f}x the 1 s limit"
    )


async def run(seconds: float) -> None:
    _id, raw = big_html("a@attacker.example", "me@us.example", "parent@us.example")
    limit = 25 * 1024 * 1024
    pool = ParsePool(1)
    started = time.perf_counter()
    await pool.start()
    print(f"first worker (fork server start + fork): {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    await pool.parse(b"Subject: warm\r\n\r\nx", limit, 10)
    print(
        f"a tiny parse through the worker (pipe round trip): {(time.perf_counter() - started) * 1000:.1f} ms"
    )

    async def inline() -> None:
        parse_message(raw, max_attachment_bytes=limit)

    async def thread() -> None:
        await asyncio.to_thread(parse_message, raw, max_attachment_bytes=limit)

    async def process() -> None:
        await pool.parse(raw, limit, 60)

    print(f"parsing a {len(raw) / 1e6:.0f} MB HTML reply repeatedly, {seconds:g} s per mode:")
    for name, work in (("loop", inline), ("thread", thread), ("process", process)):
        await measure(name, seconds, work)

    [pid] = pool.pids()
    os.kill(pid, signal.SIGSTOP)  # a parse that never ends, as far as anyone can tell
    started = time.perf_counter()
    try:
        await pool.parse(raw, limit, 1.0)
    except ParseTimeout:
        print(
            f"a frozen worker with a 1 s budget: stopped after {time.perf_counter() - started:.2f} s, "
            f"worker {pid} {'gone' if pid not in pool.pids() else 'STILL THERE'} (a thread cannot be stopped)"
        )
    started = time.perf_counter()
    await pool.parse(b"Subject: next\r\n\r\nx", limit, 10)
    print(f"the next parse on a fresh worker: {(time.perf_counter() - started) * 1000:.0f} ms")
    pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=6.0)
    asyncio.run(run(parser.parse_args().seconds))


if __name__ == "__main__":
    main()

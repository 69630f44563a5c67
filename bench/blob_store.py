"""Attachment bytes in the database (blob_chunks) versus the file store, one 20 MB attachment
(default), on SQLite and on PostgreSQL when it is reachable. Each store runs in a fresh child
process, so its peak RSS (ru_maxrss) is its own.

    .venv/bin/python bench/blob_store.py [--mb 20] [--backends sqlite postgresql]

Printed per store: write MB/s (encrypt + store), read MB/s (load + decrypt, streamed for the
database store), the child's peak RSS above its RSS before the attachment existed, and the ratio of
each to the file store measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.app import fresh_postgres_db, postgres_reachable


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def _child(store: str, url: str, size: int) -> dict[str, float]:
    from inboxlink.config import load_settings
    from inboxlink.services.platform.runtime import Runtime
    from inboxlink.storage.db import migrate

    tmp = tempfile.mkdtemp()
    settings = load_settings(
        {"INBOXLINK_DATA_DIR": tmp, "INBOXLINK_DATABASE_URL": url or f"sqlite:///{tmp}/db.sqlite",
         "INBOXLINK_BLOB_STORE": store, "INBOXLINK_BCC_SMTP": "off"}
    )  # fmt: skip
    await asyncio.to_thread(migrate, settings.database_url)
    rt = Runtime.create(settings)
    await rt.attachment_store.put(b"warm-up")  # connections, thread pool, imports
    before = _rss_mb()
    data = os.urandom(size)
    started = time.perf_counter()
    name = await rt.attachment_store.put(data)
    wrote = time.perf_counter() - started
    started, got = time.perf_counter(), 0
    async for piece in rt.attachment_store.chunks(name):
        got += len(piece)  # a download streams each piece out and drops it
    read = time.perf_counter() - started
    assert got == size
    await rt.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"write": size / 1e6 / wrote, "read": size / 1e6 / read, "peak_above": peak - before}


def _run(store: str, url: str, size: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", store, "--url", url, "--bytes", str(size)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(backend: str, url: str, size: int) -> None:
    files, database = _run("files", url, size), _run("database", url, size)
    print(f"backend: {backend}; one {size / 1e6:.0f} MB attachment")
    for label, got in (("file store", files), ("database (blob_chunks)", database)):
        print(
            f"  {label}: write {got['write']:.1f} MB/s, read {got['read']:.1f} MB/s, "
            f"peak RSS +{got['peak_above']:.0f} MB (the attachment itself: {size / 1e6:.0f} MB)"
        )
    print(
        f"  database/file store: write {database['write'] / files['write']:.2f}x, "
        f"read {database['read'] / files['read']:.2f}x, peak RSS {database['peak_above'] / files['peak_above']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=20)
    parser.add_argument(
        "--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--child", choices=["files", "database"])
    parser.add_argument("--url", default="")
    parser.add_argument("--bytes", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, args.url, args.bytes))))
        return
    size = args.mb * 1_000_000
    if "sqlite" in args.backends:
        _report("sqlite", "", size)
    if "postgresql" in args.backends:
        if reason := postgres_reachable():
            print(f"backend: postgresql skipped ({reason})")
            return
        with fresh_postgres_db() as url:
            _report("postgresql", url, size)


if __name__ == "__main__":
    main()

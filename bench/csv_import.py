"""How long a CSV import of contacts takes (issue 13: "10,000 rows import in seconds").

    .venv/bin/python bench/csv_import.py [--rows 10000] [--companies 2000] [--postgres]

Runs inboxlink in-process (migrated database in a temp dir; `--postgres` on a fresh database of the
test server) and imports a HubSpot-style CSV of `--rows` contacts spread over `--companies`
business domains plus 20 % free-mail addresses, 1 % bad rows. In the same run, for comparison:
the same kind of rows created one at a time through `contacts.create_contact` (the API's path),
on 500 rows, as rows per second. Target: 10,000 rows ≤ 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inboxlink.services.crm import contacts, csv_io
from tests.support.app import fresh_postgres_db, running_app

TARGET_SECONDS = 5.0
FREE = ["gmail.com", "outlook.com", "yahoo.de", "gmx.net", "web.de"]


def make_csv(rows: int, companies: int, seed: int, prefix: str = "") -> str:
    rnd = random.Random(seed)
    lines = ["Email,First Name,Last Name,Company Name,Company Domain Name,Phone Number"]
    for i in range(rows):
        if i % 100 == 99:
            lines.append(f"broken-{i},X,Y,,,")  # a bad row
            continue
        if rnd.random() < 0.2:
            domain, company = rnd.choice(FREE), ""
        else:
            n = rnd.randrange(companies)
            domain, company = f"{prefix}co{n}.example", f"Company {n}"
        lines.append(f"{prefix}p{i}@{domain},First{i},Last{i},{company},,+49 30 {i:06d}")
    return "\n".join(lines) + "\n"


async def run(rows: int, companies: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_app(Path(tmp) / "data", url, worker=False) as app:
            user = await app.user("bench@crm.test")
            text = make_csv(rows, companies, seed=1)
            start = time.perf_counter()
            result = await csv_io.import_contacts(app.rt, user.caller, text)
            took = time.perf_counter() - start
            made, _ = await contacts.list_contacts(app.rt, user.caller, limit=1)
            sample = 500
            one_by_one = [
                {"email": f"solo{i}@solo{i % 50}.example", "name": f"Solo {i}"} for i in range(sample)
            ]
            start = time.perf_counter()
            for body in one_by_one:
                await contacts.create_contact(app.rt, user.caller, body)
            single = time.perf_counter() - start
    backend = "postgresql" if url else "sqlite"
    rate = result["imported"] / took  # type: ignore[operator]
    single_rate = sample / single
    print(f"backend: {backend}")
    print(
        f"csv import: {rows:,} rows ({result['imported']:,} imported, {len(result['errors']):,} bad rows reported)"  # type: ignore[arg-type]
        f" in {took:.2f} s = {rate:,.0f} rows/s (target ≤ {TARGET_SECONDS:.0f} s: {'met' if took <= TARGET_SECONDS else 'MISSED'})"
    )
    print(f"create_contact one at a time: {sample} rows in {single:.2f} s = {single_rate:,.0f} rows/s")
    print(f"ratio: the import is {rate / single_rate:.1f}x the one-at-a-time rate")
    assert made  # the import did write


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--companies", type=int, default=2_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_db()) if args.postgres else None
        asyncio.run(run(args.rows, args.companies, url))


if __name__ == "__main__":
    main()

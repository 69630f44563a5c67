"""The record you can read at scale (issue 14): one contact with N logged emails (default 10,000;
every 10th with a 2 KiB attachment) on SQLite (default) or PostgreSQL (--pg).

    .venv/bin/python bench/record_page.py [--emails 10000] [--runs 15] [--pg]

Printed (median of --runs, in-process ASGI), each with what it is compared to in the same run:
  - the record's first page: GET /contacts/{id} (25 emails, conversations folded, unread state,
    profile, badges) versus the bare service call for the same page (records.contact_emails), the
    floor without templates or sessions;
  - the "With attachments" filter's first page, and GET /contacts/{id}/timeline (the live refresh);
  - the Replies page (unread first across contacts) and the unread count in every page's navigation;
  - the contacts list sorted by last reply (correlated subqueries) versus sorted by name.
Target (issue 14): the record's first page in ≤ 150 ms at 10,000 emails on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from inboxlink.services.accounts.users import create_user
from inboxlink.services.crm import records, unread
from inboxlink.storage.tables import contacts
from tests.support.app import fresh_postgres_db, running_app
from tests.support.privacy import seed_emails
from tests.support.web import sign_in

CLIENT = "bench-client@prospect.test"


async def median_ms(runs: int, call: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def bench(count: int, runs: int, pg: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_postgres_db()) if pg else None
        async with running_app(Path(tmp) / "data", url, worker=False) as app:
            rt, client = app.rt, app.client
            caller = await create_user(rt, "seller@crm.test", "correct horse battery", name="Sam")
            await seed_emails(rt, caller.team_id, CLIENT, count, attachment_every=10)
            async with rt.engine.connect() as conn:
                contact_id = await conn.scalar(select(contacts.c.id).where(contacts.c.email == CLIENT))
            await sign_in(client, "seller@crm.test")

            async def page(url: str) -> None:
                resp = await client.get(url)
                assert resp.status_code == 200, (url, resp.status_code)

            first = time.perf_counter()
            await page(f"/contacts/{contact_id}")  # cold: also marks the shown replies read
            cold = (time.perf_counter() - first) * 1000
            record = await median_ms(runs, lambda: page(f"/contacts/{contact_id}"))
            floor = await median_ms(runs, lambda: records.contact_emails(rt, caller, contact_id, limit=25))
            attached = await median_ms(runs, lambda: page(f"/contacts/{contact_id}?show=attachments"))
            fragment = await median_ms(runs, lambda: page(f"/contacts/{contact_id}/timeline"))
            replies = await median_ms(runs, lambda: page("/replies"))
            count_ms = await median_ms(runs, lambda: unread.unread_count(rt, caller))
            by_reply = await median_ms(runs, lambda: page("/contacts?sort=replied"))
            by_name = await median_ms(runs, lambda: page("/contacts"))
    backend = "PostgreSQL" if pg else "SQLite"
    print(f"{count:,} emails on one contact, {backend}, median of {runs} runs")
    print(
        f"record first page  GET /contacts/{{id}}         {record:7.1f} ms (cold {cold:.1f} ms); "
        f"service floor {floor:.1f} ms → ×{record / floor:.1f}; target ≤ 150 ms: {'met' if record <= 150 else 'MISSED'}"
    )
    print(
        f"filter 'With attachments' first page        {attached:7.1f} ms (×{attached / record:.2f} of the record)"
    )
    print(
        f"live refresh GET /contacts/{{id}}/timeline   {fragment:7.1f} ms (×{fragment / record:.2f} of the record)"
    )
    print(
        f"Replies page (unread first, {count:,} replies)  {replies:7.1f} ms; unread count alone {count_ms:.1f} ms"
    )
    print(f"contacts sorted by last reply               {by_reply:7.1f} ms vs by name {by_name:.1f} ms "
          f"→ ×{by_reply / by_name:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pg", action="store_true")
    args = parser.parse_args()
    asyncio.run(bench(args.emails, args.runs, args.pg))


if __name__ == "__main__":
    main()

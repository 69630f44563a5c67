"""Emails without search index rows under the current key get them, in batches: those logged before
the index existed (a durable job enqueued at every start) and, during `inboxlink keys rotate`, those
hashed under the old key (a rotation step: hashes cannot be re-keyed, only recomputed from the
decrypted words). Resumable both ways: an email indexed under the current key is skipped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select

from inboxlink.services.crm.search_index import HashedTerms, SearchKey, email_terms, search_keys, write_terms
from inboxlink.services.crm.timeline import unseal
from inboxlink.services.platform import jobs, keys
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.search_tables import email_search_state
from inboxlink.storage.tables import emails

JOB = "search.index"
BATCH = 50  # emails per write transaction: up to 50 × MAX_TERMS rows, well inside a job claim
RUN_SECONDS = 15.0  # then a fresh job continues: a claim lasts `jobs_lease` (60 s by default)


def _hash_rows(rt: Runtime, key: SearchKey, rows: Sequence[Any]) -> list[HashedTerms]:
    return [email_terms(key, r.team_id, r.subject, unseal(rt, r.text), unseal(rt, r.html)) for r in rows]


async def index_after(rt: Runtime, after_id: int, batch: int = BATCH) -> tuple[int | None, int]:
    """Index the next `batch` emails after `after_id` (by id) that lack rows under the current
    key. Returns the last id looked at (None: no email after `after_id`) and how many were indexed."""
    current = search_keys(rt)[0]
    async with rt.engine.connect() as conn:
        seen = (
            await conn.execute(
                select(emails.c.id, email_search_state.c.key_id)
                .select_from(
                    emails.outerjoin(email_search_state, email_search_state.c.email_id == emails.c.id)
                )
                .where(emails.c.id > after_id)
                .order_by(emails.c.id)
                .limit(batch)
            )
        ).all()
        stale = [r.id for r in seen if r.key_id != current.key_id]
        rows = (
            (
                await conn.execute(
                    select(emails.c.id, emails.c.team_id, emails.c.subject, emails.c.text, emails.c.html)
                    .where(emails.c.id.in_(stale))
                    .order_by(emails.c.id)
                )
            ).all()
            if stale
            else []
        )
    if not seen:
        return None, 0
    hashed = await asyncio.to_thread(_hash_rows, rt, current, rows)
    done = 0
    if rows:
        async with rt.engine.begin() as conn:
            for row, terms in zip(rows, hashed, strict=True):
                # Indexed meanwhile (a concurrent run) or deleted meanwhile (forgotten): leave it.
                state = await conn.scalar(
                    select(email_search_state.c.key_id).where(email_search_state.c.email_id == row.id)
                )
                if state == current.key_id or not await conn.scalar(
                    select(exists().where(emails.c.id == row.id))
                ):
                    continue
                await write_terms(conn, row.team_id, row.id, terms)
                done += 1
    return int(seen[-1].id), done


@jobs.register(JOB)
async def index_backlog(rt: Runtime, payload: dict[str, Any]) -> None:
    after = int(payload.get("after", 0))
    started = time.monotonic()
    while True:  # at least one batch per run, so every run moves on
        last, _ = await index_after(rt, after, BATCH)
        if last is None:
            return
        after = last
        if time.monotonic() - started >= RUN_SECONDS:
            break
    async with rt.engine.begin() as conn:
        # Keyed like the start-up job: a process starting meanwhile adds no second scan.
        await jobs.enqueue(conn, JOB, {"after": after}, key=JOB)


async def schedule_backfill(rt: Runtime) -> None:
    """At every start: cheap when everything is indexed (one pass over email ids)."""
    async with rt.engine.begin() as conn:
        await jobs.enqueue(conn, JOB, {"after": 0}, key=JOB)


keys.register_rehash("email_search_terms", index_after)

"""Events as rows: `email.logged`, `email.sent`, `email.failed`, `inbox.disconnected`,
`inbox.reconnected`, written by `record` in the same transaction as the change they report, so an
event exists exactly when its change was committed (nothing lost between a commit and a
notification). The events feed (`GET /api/v1/events`) reads them; `record` also queues one
delivery per subscribed webhook of the team, delivered by a job (services.accounts.webhook_delivery).

Order. The feed and each endpoint's deliveries follow `events.position`, not the row id. On
PostgreSQL several processes write events: a transaction can take id 5, stay open, and commit after
the one with id 6 was read, so a poller whose cursor passed 6 would never see 5. Positions are
therefore handed out only to committed events, by `sequence` — one sequencer at a time (an advisory
transaction lock), each run numbering what is committed and unnumbered from a counter that never
goes back (event_positions; not max(position), which deleting the newest events lowers) — and
readers look only at numbered events. What a poller has seen is then always a prefix
of the feed. SQLite has one writer, which holds the database's write lock from its first write to
its commit, so there `record` numbers the event in its own transaction (commit order = id order).

`data` is the email or inbox object as the API shows it at that moment; it carries mail content,
so it is sealed with the installation key like mail bodies. Events are pruned after
`INBOXLINK_EVENTS_RETENTION_DAYS` by a periodic job."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.errors import ServiceError
from inboxlink.services.platform import jobs
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.storage.db import new_id
from inboxlink.storage.platform_tables import event_positions, events, webhook_deliveries, webhooks

EVENT_TYPES = ("email.logged", "email.sent", "email.failed", "inbox.disconnected", "inbox.reconnected")
DELIVER = "webhook.deliver"
PRUNE = "events.prune"
TEST = "webhook.test"
SEQUENCE_LOCK = 0x1B0E7E17  # pg_advisory_xact_lock key: one sequencer at a time, installation-wide
SEQUENCE_BATCH = 1000
CURSOR_PREFIX = "pos_"


def webhook_job_key(webhook_id: int) -> str:
    return f"webhook:{webhook_id}"


def seal_data(rt: Runtime, data: dict[str, Any]) -> bytes:
    return rt.box.encrypt(json.dumps(data, separators=(",", ":")).encode())


def event_body(rt: Runtime, row: Any) -> dict[str, Any]:
    """What a webhook receives and the feed lists: type, timestamp and the object."""
    data = json.loads(rt.box.decrypt(bytes(row.data)))
    return {"type": row.type, "timestamp": iso(row.created_at), "data": data}


def event_id(row_id: int) -> str:
    return f"evt_{row_id}"


async def _take_positions(conn: AsyncConnection, count: int) -> int:
    """The first of `count` new feed positions, from the counter that never goes back (a position
    must never be given twice: pollers whose cursor passed it would skip the second event). Only one
    writer at a time gets here: SQLite's write lock, PostgreSQL's sequencer lock."""
    bumped = await conn.execute(
        event_positions.update().where(event_positions.c.id == 1).values(last=event_positions.c.last + count)
    )
    if bumped.rowcount == 0:  # a database created from the metadata, without the migration's row
        top = select(func.coalesce(func.max(events.c.position), 0)).scalar_subquery()
        await conn.execute(event_positions.insert().values(id=1, last=top + count))
    last = (await conn.execute(select(event_positions.c.last).where(event_positions.c.id == 1))).scalar_one()
    return int(last) - count + 1


async def _insert(conn: AsyncConnection, **values: Any) -> Any:
    """The event row; numbered at once on SQLite (see the module docstring), later on PostgreSQL."""
    if conn.dialect.name == "sqlite":
        values["position"] = await _take_positions(conn, 1)
    return events.insert().values(**values)


async def _position(conn: AsyncConnection, event_row: int) -> int | None:
    """The event's position as `_insert` gave it (SQLite), None until `sequence` (PostgreSQL)."""
    if conn.dialect.name != "sqlite":
        return None
    return (await conn.execute(select(events.c.position).where(events.c.id == event_row))).scalar_one()


async def sequence(conn: AsyncConnection) -> int:
    """Number the committed, unnumbered events (oldest id first) after the highest position so far;
    how many. Call it in a transaction of its own: the numbers count once it commits."""
    if conn.dialect.name != "postgresql":
        return 0  # numbered by `record`
    # Serialises sequencers; each statement after it sees every earlier sequencer's commit.
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQUENCE_LOCK})
    waiting = (
        (
            await conn.execute(
                select(events.c.id)
                .where(events.c.position.is_(None))
                .order_by(events.c.id)
                .limit(SEQUENCE_BATCH)
            )
        )
        .scalars()
        .all()
    )
    if not waiting:
        return 0
    first = await _take_positions(conn, len(waiting))
    await conn.execute(
        events.update()
        .where(events.c.id == bindparam("event_row"))
        .values(position=bindparam("new_position")),
        [{"event_row": row, "new_position": first + n} for n, row in enumerate(waiting)],
    )
    await conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.event_id.in_(waiting))
        .values(
            position=select(events.c.position)
            .where(events.c.id == webhook_deliveries.c.event_id)
            .scalar_subquery()
        )
    )
    return len(waiting)


async def sequence_now(rt: Runtime) -> None:
    """Number what is committed, in a transaction of its own (PostgreSQL; nothing to do on SQLite)."""
    if rt.engine.dialect.name != "postgresql":
        return
    while True:
        async with rt.engine.begin() as conn:
            if await sequence(conn) < SEQUENCE_BATCH:
                return


async def record(rt: Runtime, conn: AsyncConnection, team_id: int, kind: str, data: dict[str, Any]) -> int:
    """The event, and a pending delivery for each webhook of the team that subscribed to it."""
    if kind not in EVENT_TYPES:
        raise ValueError(f"unknown event type {kind!r}")
    stamp = now()
    email_id = data.get("id") if kind.startswith("email.") else None
    result = await conn.execute(
        await _insert(
            conn, team_id=team_id, type=kind, email_id=email_id, data=seal_data(rt, data), created_at=stamp
        )
    )
    created = new_id(result)
    position = await _position(conn, created)
    hooks = (
        await conn.execute(select(webhooks.c.id, webhooks.c.events).where(webhooks.c.team_id == team_id))
    ).all()
    for hook in hooks:
        if kind not in hook.events:
            continue
        await conn.execute(
            webhook_deliveries.insert().values(
                webhook_id=hook.id,
                event_id=created,
                position=position,
                status="pending",
                attempts=0,
                next_attempt_at=stamp,
                created_at=stamp,
            )
        )
        await jobs.enqueue(conn, DELIVER, {"webhook_id": hook.id}, key=webhook_job_key(hook.id))
    if hooks:
        rt.jobs_wakeup.set()  # the runner also polls, should it look before this commits
    return created


async def record_test(rt: Runtime, conn: AsyncConnection, team_id: int, webhook_id: int) -> None:
    """A `webhook.test` event for one endpoint (the admin page's button); not in the feed."""
    stamp = now()
    data = {"message": "A test event from inboxlink."}
    result = await conn.execute(
        await _insert(conn, team_id=team_id, type=TEST, data=seal_data(rt, data), created_at=stamp)
    )
    created = new_id(result)
    await conn.execute(
        webhook_deliveries.insert().values(
            webhook_id=webhook_id,
            event_id=created,
            position=await _position(conn, created),
            status="pending",
            attempts=0,
            next_attempt_at=stamp,
            created_at=stamp,
        )
    )
    await jobs.enqueue(conn, DELIVER, {"webhook_id": webhook_id}, key=webhook_job_key(webhook_id))


def parse_cursor(after: str | None) -> int:
    """The position a cursor stands for. `evt_N` (the cursor before positions existed) is N: events
    stored then were given their ids as positions."""
    if not after:
        return 0
    raw = after.removeprefix(CURSOR_PREFIX) if after.startswith(CURSOR_PREFIX) else after.removeprefix("evt_")
    if not raw.isdigit() or len(raw) > 18:
        raise ServiceError("invalid_field", "after must be a cursor from an earlier page.", field="after")
    return int(raw)


async def list_events(rt: Runtime, team_id: int, after: str | None, limit: int) -> dict[str, Any]:
    """The team's events in feed order, after the cursor (`next_cursor` of an earlier page)."""
    start = parse_cursor(after)
    await sequence_now(rt)  # what committed before this request is in the answer
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(events)
                .where(
                    events.c.team_id == team_id,
                    events.c.position > start,
                    events.c.type != TEST,
                )
                .order_by(events.c.position)
                .limit(limit + 1)
            )
        ).all()
    page = rows[:limit]
    items = [{"id": event_id(r.id), **event_body(rt, r)} for r in page]
    cursor = f"{CURSOR_PREFIX}{page[-1].position}" if page else (after or None)
    return {"items": items, "next_cursor": cursor, "has_more": len(rows) > limit}


@jobs.register(PRUNE)
async def prune(rt: Runtime, payload: dict[str, Any]) -> None:
    """Periodic: events past retention (their deliveries with them), and finished jobs after a day."""
    stamp = now()
    async with rt.engine.begin() as conn:
        cutoff = stamp - timedelta(days=rt.settings.events_retention_days)
        old = select(events.c.id).where(events.c.created_at < cutoff)
        await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.event_id.in_(old)))
        await conn.execute(delete(events).where(events.c.created_at < cutoff))
        await conn.execute(
            delete(jobs.jobs).where(
                jobs.jobs.c.status == "done", jobs.jobs.c.created_at < stamp - timedelta(days=1)
            )
        )
        # Failed jobs stay as long as events do (their last_error is for the admin to read).
        await conn.execute(
            delete(jobs.jobs).where(jobs.jobs.c.status == "failed", jobs.jobs.c.created_at < cutoff)
        )
    raise jobs.Retry(3600.0, "periodic")


async def schedule_prune(rt: Runtime) -> None:
    async with rt.engine.begin() as conn:
        await jobs.enqueue(conn, PRUNE, {}, key=PRUNE)

"""Feed positions and event ids after the newest events were deleted (forgetting a contact deletes
its emails' events, services.crm.erase.delete_events): a poller whose cursor had passed them must
still get every later event, and a webhook receiver must never see a deleted event's id again
(it deduplicates on the webhook-id `evt_N`). Both backends."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, delete, insert, select

from inboxlink.services.accounts.users import create_token, create_user
from inboxlink.services.crm.erase import delete_events
from inboxlink.services.platform import events
from inboxlink.storage import platform_tables as tables
from inboxlink.storage.db import alembic_config, sync_url
from inboxlink.storage.tables import teams
from tests.integration.test_tracked_scope_migration import database_url  # noqa: F401  (both backends)
from tests.support.app import TestApp as LiveApp
from tests.support.app import TestUser as ApiUser
from tests.support.app import fresh_postgres_db, postgres_reachable, running_app

STAMP = datetime(2026, 1, 1, tzinfo=UTC)
UNREACHABLE = postgres_reachable()
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(UNREACHABLE is not None, reason=UNREACHABLE or "")),
]


@contextlib.asynccontextmanager
async def app_on(backend: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    if backend == "sqlite":
        async with running_app(tmp_path / "data", worker=False) as app:
            yield app
        return
    with fresh_postgres_db() as url:
        async with running_app(tmp_path / "data", url, worker=False) as app:
            yield app


async def poll(user: ApiUser, cursor: str | None) -> tuple[list[dict[str, object]], str | None]:
    resp = await user.get("/api/v1/events", params={"after": cursor} if cursor else {})
    assert resp.status_code == 200, resp.text
    page = resp.json()
    return page["items"], page["next_cursor"]


async def record(app: LiveApp, team: int, email_id: int) -> None:
    async with app.rt.engine.begin() as conn:
        await events.record(app.rt, conn, team, "email.sent", {"id": email_id, "n": email_id})


@pytest.mark.parametrize("backend", BACKENDS)
async def test_events_after_deleting_the_newest_are_neither_skipped_nor_given_old_ids(
    backend: str, tmp_path: Path
) -> None:
    async with app_on(backend, tmp_path) as app:
        caller = await create_user(app.rt, "boss@crm.test", "correct horse battery", admin=True)
        boss = ApiUser(caller, await create_token(app.rt, "boss@crm.test"), app.client)
        for email_id in (1, 2, 3):
            await record(app, caller.team_id, email_id)
        seen, cursor = await poll(boss, None)
        assert [item["data"]["n"] for item in seen] == [1, 2, 3]  # type: ignore[index]
        ids_seen = {item["id"] for item in seen}
        async with app.rt.engine.begin() as conn:  # the contact of emails 2 and 3 is forgotten
            await delete_events(conn, [2, 3])
        for email_id in (4, 5):
            await record(app, caller.team_id, email_id)
        later, cursor = await poll(boss, cursor)
        assert [item["data"]["n"] for item in later] == [4, 5]  # type: ignore[index]
        assert ids_seen.isdisjoint(item["id"] for item in later)
        everything, _ = await poll(boss, None)
        assert [item["data"]["n"] for item in everything] == [1, 4, 5]  # type: ignore[index]


def test_migration_starts_the_counter_above_every_position_and_id(database_url: str) -> None:  # noqa: F811
    cfg = alembic_config(database_url)
    command.upgrade(cfg, "0020")
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(insert(teams), [{"id": 1, "name": "t", "created_at": STAMP}])
        conn.execute(
            insert(tables.events),
            [
                {
                    "id": i,
                    "team_id": 1,
                    "type": "email.sent",
                    "data": b"x",
                    "created_at": STAMP,
                    "position": p,
                }
                for i, p in ((1, 1), (2, 2), (7, 3))  # ids and positions as an older install left them
            ],
        )
    command.upgrade(cfg, "head")
    with contextlib.ExitStack() as cleanup, engine.begin() as conn:
        cleanup.callback(engine.dispose)
        assert conn.execute(select(tables.event_positions.c.last)).scalar_one() == 7
        assert conn.execute(select(tables.events.c.id).order_by(tables.events.c.id)).scalars().all() == [
            1,
            2,
            7,
        ]
        if engine.dialect.name != "sqlite":
            return  # PostgreSQL's serial never goes back (and was not advanced by the explicit ids)
        conn.execute(delete(tables.events).where(tables.events.c.id == 7))
        made = conn.execute(
            insert(tables.events).values(team_id=1, type="email.sent", data=b"y", created_at=STAMP)
        )
        assert made.inserted_primary_key[0] > 7  # never the deleted event's id again

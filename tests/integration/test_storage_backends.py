"""The same storage code on SQLite and PostgreSQL: migrations, users/tokens, contacts, and a queued
email with its thread and tracked id."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from inboxlink.services.accounts.users import check_password, create_user
from inboxlink.services.errors import Conflict
from inboxlink.storage.tables import tracked_ids
from tests.support.app import fresh_postgres_db, postgres_reachable, running_app


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield None
        return
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    with fresh_postgres_db() as url:
        yield url


async def test_storage_round_trip(database_url, tmp_path):
    async with running_app(tmp_path / "data", database_url, worker=False) as app:
        user = await app.user("ops@acme.test", name="Ops")
        assert (
            await check_password(app.rt, "ops@acme.test", "correct horse battery")
        ).user_id == user.caller.user_id
        assert await check_password(app.rt, "ops@acme.test", "wrong password!") is None
        with pytest.raises(Conflict):
            await create_user(app.rt, "OPS@acme.test", "another password")
        resp = await user.post("/api/v1/contacts", {"email": "a@b.test", "name": "A"})
        assert resp.status_code == 201
        assert (await user.post("/api/v1/contacts", {"email": "A@B.test"})).status_code == 409
        listed = (await user.get("/api/v1/contacts", params={"q": "a"})).json()
        assert listed["total"] == 1
        async with app.rt.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(tracked_ids)) == 0


async def test_migrate_is_idempotent(database_url, tmp_path):
    from inboxlink.storage.db import migrate

    async with running_app(tmp_path / "data", database_url, worker=False) as app:
        migrate(str(app.rt.settings.database_url))
        migrate(str(app.rt.settings.database_url))

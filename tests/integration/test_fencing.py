"""Fencing (issue 12): a monitor whose worker lost the inbox's lease — paused past the TTL while
another worker took the inbox over — writes nothing afterwards: no cursor advance, no error text,
no status change. Writes carry the lease token; a stale token rolls the transaction back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inboxlink.services.accounts import health
from inboxlink.services.mail import replies
from inboxlink.services.platform import leases
from inboxlink.storage.tables import inboxes


async def test_a_worker_that_lost_the_lease_writes_nothing(app, conversation):
    _user, inbox, _sent = conversation
    rt, supervisor = app.rt, app.supervisor
    assert supervisor is not None
    token = (await leases.held(rt, supervisor.owner))[inbox["id"]]
    old = leases.Lease(inbox["id"], supervisor.owner, token)
    cursor = await replies.load_cursor(rt, inbox["id"], "INBOX")
    assert cursor is not None

    # While the lease is ours, a monitor's writes go through.
    held = leases.LEASE.set(old)
    try:
        await health.record_error(rt, inbox["id"], "still ours", None)
    finally:
        leases.LEASE.reset(held)
    assert await last_error(app, inbox["id"]) == "still ours"

    # The worker is paused past its TTL (its heartbeat lapses) and another worker takes the inbox.
    supervisor.stop()
    await leases.bury(rt, [supervisor.owner])
    await leases.heartbeat(rt, "other-host:1:abc", "other-host", 1, 30.0)
    assert inbox["id"] in await leases.claim(rt, "other-host:1:abc", 10)

    # Resumed, the old monitor's writes are refused, and nothing of them lands.
    held = leases.LEASE.set(old)
    try:
        with pytest.raises(leases.LeaseLost):
            await health.record_error(rt, inbox["id"], "written after losing the lease", None)
        with pytest.raises(leases.LeaseLost):
            await replies.save_cursor(
                rt, inbox["id"], "INBOX", replies.Cursor(cursor.uidvalidity, cursor.last_uid + 50, None, 0)
            )
        with pytest.raises(leases.LeaseLost):
            await health.mark_disconnected(rt, inbox["id"], "connection_failed", "stale")
    finally:
        leases.LEASE.reset(held)
    assert await last_error(app, inbox["id"]) == "still ours"
    assert (await replies.load_cursor(rt, inbox["id"], "INBOX")).last_uid == cursor.last_uid
    async with rt.engine.connect() as conn:
        status = await conn.scalar(select(inboxes.c.status).where(inboxes.c.id == inbox["id"]))
    assert status == "connected"

    # The new holder's writes (its own token) go through.
    new = leases.Lease(inbox["id"], "other-host:1:abc", token + 1)
    held = leases.LEASE.set(new)
    try:
        await health.record_error(rt, inbox["id"], "the new owner", None)
    finally:
        leases.LEASE.reset(held)
    assert await last_error(app, inbox["id"]) == "the new owner"


async def last_error(app, inbox_id: int) -> str | None:
    async with app.rt.engine.connect() as conn:
        return await conn.scalar(select(inboxes.c.last_error).where(inboxes.c.id == inbox_id))

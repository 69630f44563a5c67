"""The connection health of an inbox as users see it: connected/disconnected with a reason, the
server's last words, the next retry, and a notification a person can act on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from inboxlink.services.accounts.inboxes import inbox_view
from inboxlink.services.accounts.users import Caller
from inboxlink.services.platform import events
from inboxlink.services.platform.leases import fence
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.storage.tables import inboxes, notifications

REASON_TEXT = {
    "auth_failed": "the mail server no longer accepts the saved password (it was changed, or access was revoked)",
    "access_revoked": "access to the mailbox was revoked",
    "connection_failed": "the mail server could not be reached for a long time",
    "uidvalidity_unstable": "the mail server keeps renumbering the mailbox, so it cannot be followed safely",
    "oauth_client_invalid": "the mail provider refused inboxlink's OAuth client (an administrator must renew its secret)",
}

# What the owner must do, where it is not "enter the current password".
ADVICE = {
    "access_revoked": "open Settings → Inboxes and press Reconnect to sign in with the provider again",
    "oauth_client_invalid": "ask your inboxlink administrator to renew the OAuth client secret (docs/oauth.md); "
    "the inbox reconnects by itself afterwards",
}


# A disconnect for one of these replaces a connection_failed one: the user has to act, and the
# monitor must stop retrying a login that cannot succeed.
NEEDS_THE_USER = {"auth_failed", "access_revoked", "uidvalidity_unstable"}


async def mark_disconnected(
    rt: Runtime, inbox_id: int, reason: str, server_text: str, *, used_secret: bytes | None = None
) -> None:
    """Idempotent: an inbox already disconnected keeps its first timestamp and notification, unless
    the new reason needs the user where the old one did not. With `used_secret`, nothing happens
    when the credentials changed meanwhile (a login with the old password must not undo a reconnect)."""
    stamp = now()
    async with rt.engine.begin() as conn:
        await fence(conn)  # a monitor whose lease is stale writes nothing
        row = (await conn.execute(select(inboxes).where(inboxes.c.id == inbox_id))).first()
        if row is not None and used_secret is not None and bytes(row.secret) != used_secret:
            return
        escalate = (
            row is not None
            and row.status == "disconnected"
            and row.disconnect_reason not in NEEDS_THE_USER
            and reason in NEEDS_THE_USER
        )
        if row is None or (row.status in {"disconnected", "deleted"} and not escalate):
            if row is not None:
                await conn.execute(
                    inboxes.update()
                    .where(inboxes.c.id == inbox_id)
                    .values(last_error=server_text[:2000], last_error_at=stamp)
                )
            return
        if escalate:
            await conn.execute(
                notifications.update()
                .where(notifications.c.inbox_id == inbox_id, notifications.c.resolved_at.is_(None))
                .values(resolved_at=stamp)
            )
        await conn.execute(
            inboxes.update()
            .where(inboxes.c.id == inbox_id)
            .values(
                status="disconnected",
                disconnect_reason=reason,
                disconnected_at=stamp,
                last_error=server_text[:2000],
                last_error_at=stamp,
            )
        )
        if not escalate:  # one event per disconnection (an escalation changes only the reason)
            changed = (await conn.execute(select(inboxes).where(inboxes.c.id == inbox_id))).one()
            await events.record(rt, conn, row.team_id, "inbox.disconnected", inbox_view(changed))
        when = stamp.strftime("%Y-%m-%d %H:%M UTC")
        await conn.execute(
            notifications.insert().values(
                team_id=row.team_id,
                user_id=row.user_id,
                inbox_id=row.id,
                kind="inbox_disconnected",
                message=(
                    f"Your inbox {row.email} was disconnected on {when}: {REASON_TEXT.get(reason, reason)}. "
                    # OAuth: the provider's reason in words (e.g. Google's 7-day expiry in testing status).
                    + (f"{server_text[:500]} " if reason in ADVICE else "")
                    + "Replies are not being logged until you reconnect it: "
                    + ADVICE.get(reason, "open Settings → Inboxes and enter the current password")
                    + " (nothing that arrives meanwhile is lost)."
                ),
                created_at=stamp,
            )
        )
    rt.timeline.publish(row.team_id, {"type": "inbox", "inbox_id": inbox_id})
    rt.inboxes_changed.set()  # the supervisor stops what must not run any more


async def record_error(rt: Runtime, inbox_id: int, server_text: str, next_retry_at: datetime | None) -> None:
    async with rt.engine.begin() as conn:
        await fence(conn)  # a monitor whose lease is stale writes nothing
        await conn.execute(
            inboxes.update()
            .where(inboxes.c.id == inbox_id)
            .values(last_error=server_text[:2000], last_error_at=now(), next_retry_at=next_retry_at)
        )


async def record_sync(rt: Runtime, inbox_id: int) -> None:
    async with rt.engine.begin() as conn:
        await fence(conn)  # a monitor whose lease is stale writes nothing
        await conn.execute(
            inboxes.update().where(inboxes.c.id == inbox_id).values(last_sync_at=now(), next_retry_at=None)
        )


async def clear_error(rt: Runtime, inbox_id: int, before: datetime) -> None:
    """The inbox works again: an error recorded before `before` (the start of the pass that worked)
    is history, not the inbox's state. One recorded since (a Sent folder that cannot be followed)
    stays."""
    async with rt.engine.begin() as conn:
        await conn.execute(
            inboxes.update()
            .where(inboxes.c.id == inbox_id, inboxes.c.last_error_at < before)
            .values(last_error=None, last_error_at=None)
        )


def notification_view(row: Any) -> dict[str, object]:
    return {
        "id": row.id,
        "kind": row.kind,
        "inbox_id": row.inbox_id,
        "message": row.message,
        "created_at": iso(row.created_at),
        "resolved_at": iso(row.resolved_at),
    }


async def list_notifications(
    rt: Runtime, caller: Caller, *, include_resolved: bool = False
) -> list[dict[str, object]]:
    query = select(notifications).where(notifications.c.user_id == caller.user_id)
    if not include_resolved:
        query = query.where(notifications.c.resolved_at.is_(None))
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(notifications.c.id.desc()))).all()
    return [notification_view(r) for r in rows]


async def mark_reconnected(rt: Runtime, inbox_id: int) -> None:
    """The server answered again after a long outage: connected, and the notification resolved."""
    async with rt.engine.begin() as conn:
        await fence(conn)  # a monitor whose lease is stale writes nothing
        changed = await conn.execute(
            inboxes.update()
            .where(inboxes.c.id == inbox_id, inboxes.c.status == "disconnected")
            .values(status="connected", disconnect_reason=None, disconnected_at=None, next_retry_at=None)
        )
        row = None
        if changed.rowcount == 1:
            row = (await conn.execute(select(inboxes).where(inboxes.c.id == inbox_id))).one()
            await events.record(rt, conn, row.team_id, "inbox.reconnected", inbox_view(row))
        await conn.execute(
            notifications.update()
            .where(notifications.c.inbox_id == inbox_id, notifications.c.resolved_at.is_(None))
            .values(resolved_at=now())
        )
    if row is not None:  # open pages drop the banner, as they showed it on the disconnect
        rt.timeline.publish(row.team_id, {"type": "inbox", "inbox_id": inbox_id})

"""Scheduled sending: an email queued now to go out later (`send_at`).

The email and its rendered mail are stored at once (status `scheduled`, outbox state `scheduled`,
its time in `sent_at`), and a durable job (services.platform.jobs) is due at that time. The job
releases the outbox row to `pending` — a guarded update, so with N workers and across restarts it
happens once — and the ordinary send path (mail.delivery) sends it. Cancelling is the same guarded
update the other way (`scheduled` → `cancelled`): whichever comes first wins, never both.

A disconnected inbox at send time does not drop the email: it stays scheduled, says why on the
email, and the job looks again every RECHECK seconds until the inbox is back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.timeline import team_email_row
from inboxlink.services.errors import Conflict, NotFound
from inboxlink.services.platform import jobs
from inboxlink.services.platform.runtime import Runtime, as_utc, now
from inboxlink.storage.tables import emails, inboxes, outbox

KIND = "email.send_scheduled"
RECHECK = 30.0  # seconds between looks at a disconnected inbox with a due email


async def schedule(conn: AsyncConnection, email_id: int, send_at: datetime) -> None:
    """The job that releases the email at `send_at`, in the caller's transaction."""
    delay = max(0.0, (send_at - now()).total_seconds())
    await jobs.enqueue(conn, KIND, {"email_id": email_id}, delay=delay, key=f"scheduled-email:{email_id}")


def waiting_note(inbox: Any) -> dict[str, str]:
    reason = f" ({inbox.disconnect_reason})" if inbox.disconnect_reason else ""
    return {
        "code": "inbox_disconnected",
        "message": f"Waiting to send: the inbox {inbox.email} is disconnected{reason}. "
        "This email goes out as soon as the inbox is reconnected.",
    }


@jobs.register(KIND)
async def release_scheduled(rt: Runtime, payload: dict[str, Any]) -> None:
    email_id = int(payload["email_id"])
    async with rt.engine.begin() as conn:
        row = (
            await conn.execute(
                select(
                    outbox.c.state,
                    emails.c.team_id,
                    emails.c.thread_id,
                    emails.c.sent_at,
                    inboxes.c.email,
                    inboxes.c.status,
                    inboxes.c.disconnect_reason,
                    inboxes.c.deleted_at,
                )
                .select_from(outbox)
                .join(emails, emails.c.id == outbox.c.email_id)
                .join(inboxes, inboxes.c.id == emails.c.inbox_id)
                .where(outbox.c.email_id == email_id)
            )
        ).first()
        if row is None or row.state != "scheduled":
            return  # cancelled, or released already (this job ran twice after a lost claim)
        due = as_utc(row.sent_at)
        if due is not None and due > now():
            raise jobs.Retry((due - now()).total_seconds(), "not due yet")
        waiting = row.deleted_at is None and row.status != "connected"
        if waiting:
            # A deleted inbox is the send path's to report (failed, "inbox_deleted").
            await conn.execute(emails.update().where(emails.c.id == email_id).values(error=waiting_note(row)))
        else:
            released = await conn.execute(
                outbox.update()
                .where(outbox.c.email_id == email_id, outbox.c.state == "scheduled")
                .values(state="pending", next_attempt_at=now(), updated_at=now())
            )
            if released.rowcount != 1:
                return
            await conn.execute(
                emails.update()
                .where(emails.c.id == email_id)
                .values(status="queued", error=None, sent_at=None)
            )
    rt.timeline.publish(row.team_id, {"type": "email", "email_id": email_id, "thread_id": row.thread_id})
    if waiting:
        raise jobs.Retry(RECHECK, "inbox disconnected")
    rt.outbox_wakeup.set()


async def cancel_scheduled(rt: Runtime, caller: Caller, email_id: int) -> None:
    """Cancel an email still `scheduled` (409 `not_scheduled` once it is on its way or done). Only
    its sender or a team admin may: a teammate never acts on another user's inbox, so for them the
    email is 404 `email_not_found`, as if it were another team's."""
    async with rt.engine.begin() as conn:
        email = await team_email_row(conn, caller.team_id, email_id)
        if email.user_id != caller.user_id and not caller.is_admin:
            raise NotFound("email")
        cancelled = await conn.execute(
            outbox.update()
            .where(outbox.c.email_id == email_id, outbox.c.state == "scheduled")
            .values(state="cancelled", payload=b"", updated_at=now())
        )
        if cancelled.rowcount != 1:
            raise Conflict(
                "not_scheduled",
                f"This email is {email.status}, not scheduled: only an email waiting for its send time can be cancelled.",
            )
        await conn.execute(
            emails.update().where(emails.c.id == email_id).values(status="cancelled", error=None)
        )
    rt.timeline.publish(caller.team_id, {"type": "email", "email_id": email_id, "thread_id": email.thread_id})

"""Bounces: a delivery status notification (domain.bounces) that comes back to a monitored INBOX
for an email we sent marks that email `bounced`, with the report's status code and reason.

DSNs rarely carry In-Reply-To: what ties one to our email is the original's Message-ID inside the
report. So the monitor hands over (by `is_candidate`, on the match headers alone) the unmatched
INBOX messages that look like reports or come from a mailer-daemon; only those are fetched, read
here off the event loop and never stored: the bounce is recorded on the tracked email, nothing of
the report itself is kept. A report for mail we do not track leaves no trace.

Idempotent: a rescan of the same report finds the email already `bounced` and changes nothing.
The change emits `email.failed` (the email object, status `bounced`), like a send that failed, and
stops the email's sequence enrolment (services.mail.sequence_stops)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from inboxlink.domain.bounces import Bounce, looks_like_bounce, read_bounce
from inboxlink.services.crm.timeline import email_views
from inboxlink.services.mail import sequence_stops
from inboxlink.services.mail.replies import tracked_lookup
from inboxlink.services.platform import events
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.tables import emails

__all__ = ["is_candidate", "record_bounce"]

log = logging.getLogger(__name__)

# The delivery-status part comes before the returned original: a report is read from its first
# bytes only, so a huge original never costs more than this.
READ_LIMIT = 512 * 1024


def is_candidate(header: bytes) -> bool:
    return looks_like_bounce(header)


async def record_bounce(rt: Runtime, inbox: Any, raw: bytes) -> int | None:
    """Mark the tracked email this report bounces; its id, or None (no bounce of ours)."""
    bounce = await asyncio.to_thread(read_bounce, raw[:READ_LIMIT])
    if bounce is None or not bounce.failed or not bounce.original_message_id:
        return None
    known = await tracked_lookup(rt, inbox, [bounce.original_message_id])
    email_id = known.get(bounce.original_message_id)
    if email_id is None:
        return None
    return await _mark_bounced(rt, inbox.team_id, email_id, bounce)


def bounce_error(bounce: Bounce) -> dict[str, object]:
    return {
        "code": "bounced",
        "message": bounce.reason(),
        "status": bounce.status or None,
        "permanent": bounce.permanent,
        "recipients": [r.recipient for r in bounce.failed if r.recipient][:20],
    }


async def _mark_bounced(rt: Runtime, team_id: int, email_id: int, bounce: Bounce) -> int | None:
    async with rt.engine.begin() as conn:
        row = (
            await conn.execute(
                select(emails.c.direction, emails.c.status, emails.c.thread_id).where(
                    emails.c.id == email_id, emails.c.team_id == team_id
                )
            )
        ).first()
        if row is None or row.direction != "outbound" or row.status == "bounced":
            return None
        await conn.execute(
            emails.update()
            .where(emails.c.id == email_id)
            .values(status="bounced", error=bounce_error(bounce))
        )
        (view,) = await email_views(rt, conn, team_id, [email_id])
        await events.record(rt, conn, team_id, "email.failed", view)
        await sequence_stops.on_bounce(rt, conn, team_id, email_id)
    log.info("email %s bounced (%s)", email_id, bounce.status or "no status")
    rt.timeline.publish(team_id, {"type": "email", "email_id": email_id, "thread_id": row.thread_id})
    return email_id

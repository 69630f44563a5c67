"""Delivering queued emails: the outbox's state machine.

    pending ──claim──▶ sending ──SMTP accepted──▶ done (status "sent", copy in Sent)
       ▲                  │ connection failed before hand-over / 4xx: back to pending, backoff
       └──────────────────┘ 5xx, auth refused, retries used up: failed (status "failed", readable error)

A job is marked `sending` in its own committed transaction *before* SMTP is spoken. A job found in
`sending` that nobody works on (the process died) is therefore ambiguous: the provider may have
accepted it. It is never re-sent blindly: if the Sent folder holds its Message-ID it is done,
otherwise it fails with an explanation — at most once, never twice."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select

from inboxlink import imap
from inboxlink.domain.providers import server_habits
from inboxlink.mime.build import OWN_ID_HEADER
from inboxlink.services.accounts import credentials
from inboxlink.services.accounts.health import mark_disconnected
from inboxlink.services.crm.timeline import email_views
from inboxlink.services.mail import never_log_gate, sequence_stops
from inboxlink.services.platform import events, metrics
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.smtp import (
    SmtpAuthFailed,
    SmtpConnectionFailed,
    SmtpError,
    SmtpInterrupted,
    SmtpRejected,
    SmtpServer,
    SmtpTlsFailed,
    deliver,
)
from inboxlink.storage.tables import emails, inboxes, outbox

log = logging.getLogger(__name__)

HEARTBEAT = 30.0  # seconds between `updated_at` refreshes of a job being worked on (orphan age: 180 s)


@dataclass(frozen=True)
class Job:
    id: int
    email_id: int
    attempts: int


async def claim_next_job(rt: Runtime) -> Job | None:
    async with rt.engine.begin() as conn:
        row = (
            await conn.execute(
                select(outbox.c.id, outbox.c.email_id, outbox.c.attempts)
                .where(outbox.c.state == "pending", outbox.c.next_attempt_at <= now())
                .order_by(outbox.c.id)
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        # Guarded update: with several workers only one wins the job.
        claimed = await conn.execute(
            outbox.update()
            .where(outbox.c.id == row.id, outbox.c.state == "pending")
            .values(state="sending", attempts=row.attempts + 1, updated_at=now())
        )
        if claimed.rowcount != 1:
            return None
    return Job(row.id, row.email_id, row.attempts + 1)


async def next_due_in(rt: Runtime) -> float | None:
    async with rt.engine.connect() as conn:
        due = await conn.scalar(
            select(outbox.c.next_attempt_at)
            .where(outbox.c.state == "pending")
            .order_by(outbox.c.next_attempt_at)
            .limit(1)
        )
    if due is None:
        return None
    due = due if due.tzinfo else due.replace(tzinfo=now().tzinfo)
    return max(0.0, (due - now()).total_seconds())


async def _load(rt: Runtime, job: Job) -> tuple[Any, Any]:
    async with rt.engine.connect() as conn:
        email = (await conn.execute(select(emails).where(emails.c.id == job.email_id))).one()
        inbox = (await conn.execute(select(inboxes).where(inboxes.c.id == email.inbox_id))).one()
    return email, inbox


async def _finish(
    rt: Runtime,
    job: Job,
    email: Any,
    *,
    status: str,
    error: dict[str, str] | None = None,
    folder: str | None = None,
) -> None:
    async with rt.engine.begin() as conn:
        moved = await conn.execute(
            # The payload (the whole rendered mail) is dropped once it is no longer needed.
            outbox.update()
            .where(_still_ours(job))
            .values(state="done" if status == "sent" else "failed", payload=b"", updated_at=now())
        )
        if moved.rowcount != 1:
            return  # resolved meanwhile by someone else (recovery): their verdict stands
        metrics.SENDS.labels(status).inc()
        sent_at = now() if status == "sent" else None
        changed = await conn.execute(
            emails.update()
            # A bounce can be recorded before this (the DSN came back while we waited for the 250
            # or saved the Sent copy): it is the later news, and its reason stays.
            .where(emails.c.id == job.email_id, emails.c.status != "bounced")
            .values(status=status, error=error, sent_folder_copy=folder, sent_at=sent_at)
        )
        if changed.rowcount == 1:
            (view,) = await email_views(rt, conn, email.team_id, [email.id])
            kind = "email.sent" if status == "sent" else "email.failed"
            await events.record(rt, conn, email.team_id, kind, view)
            if status == "failed":
                await sequence_stops.on_send_failed(rt, conn, email.team_id, email.id)
        else:  # bounced: its `email.failed` was emitted then, and no `email.sent` comes after it
            await conn.execute(
                emails.update()
                .where(emails.c.id == job.email_id)
                .values(sent_folder_copy=folder, sent_at=sent_at)
            )
    rt.timeline.publish(email.team_id, {"type": "email", "email_id": email.id, "thread_id": email.thread_id})


def _still_ours(job: Job) -> ColumnElement[bool]:
    """Every state change of a claimed job is guarded: it must still be in `sending` under our claim."""
    return and_(outbox.c.id == job.id, outbox.c.state == "sending", outbox.c.attempts == job.attempts)


async def _heartbeat(rt: Runtime, job: Job) -> None:
    """While a job is worked on, its `updated_at` stays fresh, so no other worker's recovery takes
    a slow but live send for an orphan."""
    while True:
        await asyncio.sleep(HEARTBEAT)
        async with rt.engine.begin() as conn:
            await conn.execute(outbox.update().where(_still_ours(job)).values(updated_at=now()))


async def _fail_or_retry(
    rt: Runtime, job: Job, email: Any, code: str, message: str, *, permanent: bool = False
) -> None:
    """A delivery that did not go out: failed for good when the refusal is permanent or the
    retries are used up (INBOXLINK_SEND_RETRY_LIMIT), else tried again later."""
    if permanent or job.attempts >= rt.settings.send_retry_limit:
        await _finish(rt, job, email, status="failed", error={"code": code, "message": message})
    else:
        await _retry_later(rt, job, message)


async def _retry_later(rt: Runtime, job: Job, message: str) -> None:
    delay = min(300.0, 5.0 * 2 ** (job.attempts - 1)) * random.uniform(0.8, 1.2)
    metrics.SENDS.labels("retry").inc()
    async with rt.engine.begin() as conn:
        moved = await conn.execute(
            outbox.update()
            .where(_still_ours(job))
            .values(state="pending", next_attempt_at=now() + timedelta(seconds=delay), updated_at=now())
        )
        if moved.rowcount != 1:
            return
        await conn.execute(
            emails.update()
            .where(emails.c.id == job.email_id)
            .values(error={"code": "retrying", "message": message})
        )


async def _imap_session(rt: Runtime, inbox: Any) -> imap.ImapClient:
    client = await imap.ImapClient.connect(
        inbox.imap_host, inbox.imap_port, inbox.imap_security, ssl_context=rt.ssl_context(), timeout=30
    )
    try:
        await credentials.imap_login(rt, client, inbox)
    except BaseException:
        await client.close()
        raise
    return client


async def _in_folder(client: imap.ImapClient, folder: str, message_id: str) -> bool:
    await client.select(folder, readonly=True)
    # Either header: a relay may have replaced the Message-ID, our own id header stays.
    found = await client.uid_search(
        f'OR HEADER Message-ID "<{message_id}>" HEADER {OWN_ID_HEADER} "<{message_id}>"'
    )
    return bool(found)


async def copy_to_sent(rt: Runtime, inbox: Any, message_id: str, raw: bytes) -> str | None:
    """APPEND a \\Seen copy to the inbox's Sent folder unless the provider filed one itself.
    Returns the folder holding the copy (None when there is no Sent folder)."""
    folder = inbox.sent_folder
    if not folder:
        return None
    if server_habits(inbox.imap_host, inbox.smtp_host, inbox.provider).files_sent_copy:
        # Gmail and Office 365 file what their SMTP accepted into Sent themselves, a moment later:
        # a search right after sending may not see it yet, and an APPEND would then double it.
        # Known by the servers too, not only by the OAuth button: an app-password Gmail also files.
        return str(folder)
    client = await _imap_session(rt, inbox)
    try:
        if not await _in_folder(client, folder, message_id):
            # Leave the read-only selection first: Courier refuses an APPEND into the mailbox that
            # is selected read-only ("Current box is selected READ-ONLY").
            await client.unselect()
            await client.append(folder, raw, flags=("\\Seen",))
        return str(folder)
    finally:
        await client.logout()
        await client.close()


async def process_job(rt: Runtime, job: Job) -> None:
    beat = asyncio.create_task(_heartbeat(rt, job))
    try:
        await _process_job(rt, job)
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)


async def _process_job(rt: Runtime, job: Job) -> None:
    email, inbox = await _load(rt, job)
    async with rt.engine.connect() as conn:
        payload = (await conn.execute(select(outbox.c.payload).where(outbox.c.id == job.id))).scalar_one()
    raw = rt.box.decrypt(payload)
    if inbox.deleted_at is not None:
        await _finish(
            rt,
            job,
            email,
            status="failed",
            error={"code": "inbox_deleted", "message": "The inbox was removed before this email was sent."},
        )
        return
    recipients = [p["email"] for p in (*email.to_addrs, *email.cc_addrs, *email.bcc_addrs)]

    async def send(server: SmtpServer) -> dict[str, str]:
        return await deliver(server, rt.ssl_context(), inbox.email, recipients, raw)

    try:
        refused = await credentials.with_smtp(rt, inbox, send)
    except credentials.GrantRevoked as exc:
        # The inbox is marked access_revoked already (and its owner notified).
        await _finish(
            rt,
            job,
            email,
            status="failed",
            error={"code": "access_revoked", "message": f"{exc} Then send the email again."},
        )
        return
    except credentials.TokenUnavailable as exc:
        await _fail_or_retry(rt, job, email, "smtp_unreachable", str(exc))
        return
    except SmtpAuthFailed as exc:
        await _finish(
            rt,
            job,
            email,
            status="failed",
            error={
                "code": "smtp_auth_failed",
                "message": f"The mail server refused the password: {exc.server_text or exc}. Reconnect the inbox, then send again.",
            },
        )
        await mark_disconnected(
            rt, inbox.id, "auth_failed", f"SMTP: {exc.server_text or exc}", used_secret=bytes(inbox.secret)
        )
        return
    except SmtpRejected as exc:
        await _fail_or_retry(rt, job, email, "smtp_rejected", str(exc), permanent=exc.permanent)
        return
    except SmtpInterrupted as exc:
        await resolve_ambiguous(rt, job, email, inbox, str(exc))
        return
    except (SmtpConnectionFailed, SmtpTlsFailed, SmtpError) as exc:
        await _fail_or_retry(rt, job, email, "smtp_unreachable", str(exc))
        return
    folder: str | None = None
    copy_failed: str | None = None
    try:
        folder = await copy_to_sent(rt, inbox, email.message_id, raw)
    except (imap.ImapError, credentials.GrantRevoked, credentials.TokenUnavailable) as exc:
        # The mail went out; only the copy is missing. Say so (with the server's words) instead of
        # failing the send, and never as "no Sent folder was found".
        log.warning("inbox %s: copy to Sent failed: %s", inbox.id, exc)
        copy_failed = f"the copy to your “{inbox.sent_folder}” folder failed: {exc}"
    warning = None
    if refused:
        # The others got it, so it is sent; the refusals stay visible on the email.
        listed = "; ".join(f"{a}: {r}" for a, r in refused.items())
        warning = {
            "code": "some_recipients_refused",
            "message": f"Sent, but the mail server refused: {listed}"
            + (f"; and {copy_failed}" if copy_failed else ""),
        }
    elif copy_failed:
        warning = {"code": "sent_copy_failed", "message": f"Sent, but {copy_failed}"}
    await _finish(rt, job, email, status="sent", folder=folder, error=warning)
    await never_log_gate.drop_if_unlogged(rt, email.id)  # sent only to never-logged people


async def resolve_ambiguous(rt: Runtime, job: Job, email: Any, inbox: Any, why: str) -> None:
    folder = inbox.sent_folder
    try:
        if folder:
            client = await _imap_session(rt, inbox)
            try:
                found = await _in_folder(client, folder, email.message_id)
            finally:
                await client.logout()
                await client.close()
            if found:
                await _finish(rt, job, email, status="sent", folder=folder)
                return
    except (imap.ImapError, credentials.GrantRevoked, credentials.TokenUnavailable) as exc:
        log.warning("inbox %s: could not check Sent for an interrupted send: %s", inbox.id, exc)
    await _finish(
        rt,
        job,
        email,
        status="failed",
        error={
            "code": "send_interrupted",
            "message": f"Sending was interrupted ({why}); the mail server may or may not have accepted it. "
            "Check your Sent folder or ask the recipient before sending it again.",
        },
    )


async def recover_interrupted(rt: Runtime, older_than: float) -> int:
    """Resolve jobs left in `sending` by a process that died. Returns how many were found."""
    cutoff = now() - timedelta(seconds=older_than)
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.id, outbox.c.email_id, outbox.c.attempts).where(
                    outbox.c.state == "sending", outbox.c.updated_at <= cutoff
                )
            )
        ).all()
    for row in rows:
        job = Job(row.id, row.email_id, row.attempts)
        email, inbox = await _load(rt, job)
        await resolve_ambiguous(rt, job, email, inbox, "inboxlink stopped during the hand-over")
    return len(rows)

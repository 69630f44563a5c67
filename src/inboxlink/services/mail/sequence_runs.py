"""Sending a sequence's steps: the `sequence.step` job (services.platform.jobs), one per active
enrolment, due at the enrolment's `next_run_at`.

Exactly once: the step's email (and its outbox job) is queued by `compose.send_email` in the same
transaction that records it in `sequence_sends` (unique per enrolment and position) and moves the
enrolment on — guarded by "still active, still at this step". A worker that dies after the commit
leaves nothing to redo (the job re-reads the enrolment and finds the step done); two workers that
both got the job cannot both commit; a reply or bounce committed first makes the guard fail, and
the step is not sent. The job's key keeps one enrolment's steps from running side by side.

A disconnected inbox keeps the step waiting (retried, noted once on the history); a step that
cannot be rendered (a missing token) stops the enrolment, saying why."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.sending_window import next_send_time
from inboxlink.services.accounts.users import caller_for_user_id
from inboxlink.services.errors import ServiceError
from inboxlink.services.mail import sequence_content
from inboxlink.services.mail.compose import send_email
from inboxlink.services.mail.sequence_enrolments import STEP_JOB, end_enrolment, note, schedule_step
from inboxlink.services.mail.sequences import steps_of, window_of
from inboxlink.services.platform import jobs
from inboxlink.services.platform.runtime import Runtime, as_utc, now
from inboxlink.storage.sequence_tables import sequence_enrolments, sequence_history, sequence_sends, sequences
from inboxlink.storage.tables import contacts, inboxes

log = logging.getLogger(__name__)

WAIT_FOR_INBOX = 900.0  # seconds between looks at a disconnected inbox
LATE_SLACK = timedelta(minutes=1)


class _StepTaken(Exception):
    """The enrolment moved on (or ended) while the step was being queued: roll the email back."""


async def _load(rt: Runtime, enrolment_id: int) -> Any:
    async with rt.engine.connect() as conn:
        return (
            await conn.execute(select(sequence_enrolments).where(sequence_enrolments.c.id == enrolment_id))
        ).first()


async def _stop(rt: Runtime, enrolment_id: int, reason: str, **detail: str) -> None:
    async with rt.engine.begin() as conn:
        await end_enrolment(conn, enrolment_id, "stopped", reason, email_id=None, **detail)


async def _waiting_noted(conn: AsyncConnection, enrolment_id: int) -> bool:
    last = (
        await conn.execute(
            select(sequence_history.c.kind)
            .where(sequence_history.c.enrolment_id == enrolment_id)
            .order_by(sequence_history.c.id.desc())
            .limit(1)
        )
    ).first()
    return last is not None and last.kind == "waiting"


@jobs.register(STEP_JOB)
async def run_step(rt: Runtime, payload: dict[str, Any]) -> None:
    enrolment_id = int(payload["enrolment_id"])
    enrolment = await _load(rt, enrolment_id)
    if enrolment is None or enrolment.status != "active":
        return
    due = as_utc(enrolment.next_run_at)
    if due is not None and due > now():
        raise jobs.Retry((due - now()).total_seconds(), "not due yet")
    async with rt.engine.connect() as conn:
        sequence = (
            await conn.execute(select(sequences).where(sequences.c.id == enrolment.sequence_id))
        ).one()
        steps = await steps_of(conn, sequence.id)
        contact = (await conn.execute(select(contacts).where(contacts.c.id == enrolment.contact_id))).one()
        inbox = (await conn.execute(select(inboxes).where(inboxes.c.id == enrolment.inbox_id))).one()
        previous = (
            await conn.execute(
                select(sequence_sends.c.email_id)
                .where(sequence_sends.c.enrolment_id == enrolment_id)
                .order_by(sequence_sends.c.id.desc())  # the last one sent (a removed step's too)
                .limit(1)
            )
        ).first()
    # Run late (the workers were down over a weekend or a night): still only within the window.
    slot = next_send_time(now(), 0, sequence.time_zone, window_of(sequence))
    if slot > now() + LATE_SLACK:
        async with rt.engine.begin() as conn:
            await conn.execute(
                sequence_enrolments.update()
                .where(sequence_enrolments.c.id == enrolment_id, sequence_enrolments.c.status == "active")
                .values(next_run_at=slot)
            )
        raise jobs.Retry((slot - now()).total_seconds(), "outside the sending window")
    if enrolment.next_step >= len(steps):
        async with rt.engine.begin() as conn:
            await end_enrolment(conn, enrolment_id, "finished", "completed")
        return
    if inbox.deleted_at is not None:
        await _stop(rt, enrolment_id, "inbox_removed")
        return
    if inbox.status != "connected":
        async with rt.engine.begin() as conn:
            if not await _waiting_noted(conn, enrolment_id):
                await note(conn, enrolment_id, "waiting", why=f"the inbox {inbox.email} is disconnected")
        raise jobs.Retry(WAIT_FOR_INBOX, "inbox disconnected")
    caller = await caller_for_user_id(rt, enrolment.user_id)
    if caller is None:
        await _stop(rt, enrolment_id, "user_removed")
        return
    step = steps[enrolment.next_step]
    try:
        content = await sequence_content.render_step(rt, caller, step, contact, inbox.email)
    except ServiceError as exc:
        await _stop(rt, enrolment_id, "render_failed", code=exc.code, message=exc.message)
        return
    body: dict[str, Any] = {
        "inbox_id": inbox.id,
        "to": [{"email": contact.email, "name": contact.name or None}],
        # A reply in the thread takes "Re: <the previous step's subject>" (compose does that for an
        # empty subject), not the template's own.
        "subject": "" if step.same_thread and previous is not None else content.subject,
        "text": content.text,
        "html": content.html,
        "contact_id": contact.id,
    }
    if step.same_thread and previous is not None:
        body["in_reply_to_email_id"] = previous.email_id
    position = step.position
    following = steps[position + 1] if position + 1 < len(steps) else None

    async def advance(conn: AsyncConnection, email_id: int) -> None:
        stamp = now()
        run_at = (
            next_send_time(stamp, following.delay_days, sequence.time_zone, window_of(sequence))
            if following is not None
            else None
        )
        moved = await conn.execute(
            sequence_enrolments.update()
            .where(
                sequence_enrolments.c.id == enrolment_id,
                sequence_enrolments.c.status == "active",
                sequence_enrolments.c.next_step == position,
            )
            .values(next_step=position + 1, next_run_at=run_at)
        )
        if moved.rowcount != 1:
            raise _StepTaken
        await conn.execute(
            sequence_sends.insert().values(
                enrolment_id=enrolment_id, position=position, email_id=email_id, created_at=stamp
            )
        )
        await note(conn, enrolment_id, "step_sent", email_id=email_id, position=position)
        if run_at is not None:
            await schedule_step(conn, enrolment_id, run_at)
        else:
            await end_enrolment(conn, enrolment_id, "finished", "completed")

    try:
        await send_email(rt, caller, body, within=advance)
    except _StepTaken:
        log.info("enrolment %s: step %s was taken or stopped meanwhile; not sent", enrolment_id, position)
    except ServiceError as exc:
        if exc.code == "inbox_disconnected":
            raise jobs.Retry(WAIT_FOR_INBOX, "inbox disconnected") from exc
        await _stop(rt, enrolment_id, "failed", code=exc.code, message=exc.message)

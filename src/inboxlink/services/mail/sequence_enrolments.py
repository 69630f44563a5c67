"""Enrolling contacts in a sequence, unenrolling them, and what an enrolment shows: its status, its
next step and when, the emails its steps became and its history.

"Never enrolled twice at once" is the database's to keep: `active_slot` is 1 on an active
enrolment and the unique constraint (sequence, contact, active_slot) refuses a second one, so two
requests racing each other (or two workers) cannot both succeed. Each enrolment's steps are sent
by one job (`sequence.step`, key `sequence:{id}`) that `sequence_runs` handles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.sending_window import next_send_time
from inboxlink.services.accounts.inboxes import owned_inbox_row
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contacts import get_contact_row
from inboxlink.services.crm.enrolment_views import enrolment_views
from inboxlink.services.errors import Conflict, NotFound, ServiceError
from inboxlink.services.mail.sequences import sequence_row, steps_of, window_of
from inboxlink.services.platform import jobs
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.db import new_id
from inboxlink.storage.sequence_tables import sequence_enrolments, sequence_history

__all__ = [
    "STEP_JOB",
    "end_enrolment",
    "enrol_contacts",
    "enrolment_views",
    "list_enrolments",
    "note",
    "schedule_step",
    "unenrol",
]

STEP_JOB = "sequence.step"
MAX_ENROL = 100  # contacts per request


def step_job_key(enrolment_id: int) -> str:
    return f"sequence:{enrolment_id}"


async def note(
    conn: AsyncConnection, enrolment_id: int, kind: str, *, email_id: int | None = None, **detail: object
) -> None:
    await conn.execute(
        sequence_history.insert().values(
            enrolment_id=enrolment_id, kind=kind, email_id=email_id, detail=detail, created_at=now()
        )
    )


async def schedule_step(conn: AsyncConnection, enrolment_id: int, run_at: datetime) -> None:
    delay = max(0.0, (run_at - now()).total_seconds())
    await jobs.enqueue(
        conn, STEP_JOB, {"enrolment_id": enrolment_id}, delay=delay, key=step_job_key(enrolment_id)
    )


async def end_enrolment(
    conn: AsyncConnection,
    enrolment_id: int,
    status: str,
    reason: str,
    *,
    email_id: int | None = None,
    **detail: object,
) -> bool:
    """Active → `status` (finished | stopped) with `reason`; False when it was no longer active."""
    ended = await conn.execute(
        sequence_enrolments.update()
        .where(sequence_enrolments.c.id == enrolment_id, sequence_enrolments.c.status == "active")
        .values(status=status, stop_reason=reason, active_slot=None, next_run_at=None, ended_at=now())
    )
    if ended.rowcount != 1:
        return False
    await note(conn, enrolment_id, status, email_id=email_id, reason=reason, **detail)
    return True


async def _enrol_one(
    rt: Runtime, caller: Caller, sequence: Any, first_delay: int, inbox_id: int, contact_id: int
) -> int:
    contact = await get_contact_row(rt, caller, contact_id)  # 404 for another team's contact
    stamp = now()
    run_at = next_send_time(stamp, first_delay, sequence.time_zone, window_of(sequence))
    try:
        async with rt.engine.begin() as conn:
            enrolment_id = new_id(
                await conn.execute(
                    sequence_enrolments.insert().values(
                        team_id=caller.team_id, sequence_id=sequence.id, contact_id=contact.id, inbox_id=inbox_id,
                        user_id=caller.user_id, status="active", active_slot=1, next_step=0, next_run_at=run_at,
                        created_at=stamp,
                    )
                )
            )  # fmt: skip
            await note(conn, enrolment_id, "enrolled", by=caller.email, inbox_id=inbox_id)
            await schedule_step(conn, enrolment_id, run_at)
    except IntegrityError as exc:
        raise Conflict(
            "already_enrolled", f"{contact.email} is already enrolled in this sequence; unenrol them first."
        ) from exc
    rt.jobs_wakeup.set()
    return enrolment_id


async def enrol_contacts(
    rt: Runtime, caller: Caller, sequence_id: int, inbox_id: int, contact_ids: list[int]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(enrolments made, per-contact errors). The inbox must be the caller's own and connected."""
    async with rt.engine.connect() as conn:
        sequence = await sequence_row(conn, caller.team_id, sequence_id)
        steps = await steps_of(conn, sequence_id)
    if not contact_ids:
        raise ServiceError("field_required", "contact_ids lists the contacts to enrol.", field="contact_ids")
    if len(contact_ids) > MAX_ENROL:
        raise ServiceError("invalid_field", f"At most {MAX_ENROL} contacts per request.", field="contact_ids")
    inbox = await owned_inbox_row(rt, caller, inbox_id)
    if inbox.status != "connected":
        raise ServiceError(
            "inbox_disconnected",
            f"The inbox {inbox.email} is disconnected; reconnect it first.",
            field="inbox_id",
        )
    made: list[int] = []
    refused: list[tuple[int, ServiceError]] = []
    for contact_id in dict.fromkeys(contact_ids):
        try:
            made.append(await _enrol_one(rt, caller, sequence, steps[0].delay_days, inbox.id, contact_id))
        except ServiceError as exc:
            refused.append((contact_id, exc))
    if not made:
        raise refused[0][1]  # nobody enrolled: the request failed, with the (first) reason (404, 409)
    errors: list[dict[str, object]] = [
        {"contact_id": contact_id, "code": exc.code, "message": exc.message} for contact_id, exc in refused
    ]
    async with rt.engine.connect() as conn:
        return await enrolment_views(conn, made), errors


async def list_enrolments(
    rt: Runtime, caller: Caller, *, sequence_id: int | None = None, contact_id: int | None = None
) -> list[dict[str, object]]:
    """Newest first: a sequence's enrolments, or a contact's (both of the caller's team)."""
    query = select(sequence_enrolments.c.id).where(sequence_enrolments.c.team_id == caller.team_id)
    async with rt.engine.connect() as conn:
        if sequence_id is not None:
            await sequence_row(conn, caller.team_id, sequence_id)
            query = query.where(sequence_enrolments.c.sequence_id == sequence_id)
        if contact_id is not None:
            query = query.where(sequence_enrolments.c.contact_id == contact_id)
        ids = [r.id for r in await conn.execute(query.order_by(sequence_enrolments.c.id.desc()).limit(500))]
        return await enrolment_views(conn, ids)


async def unenrol(rt: Runtime, caller: Caller, enrolment_id: int) -> dict[str, object]:
    """Stop an enrolment by hand (`unenrolled`); 409 `not_enrolled` when it already ended."""
    async with rt.engine.begin() as conn:
        row = (
            await conn.execute(
                select(sequence_enrolments.c.id).where(
                    sequence_enrolments.c.id == enrolment_id, sequence_enrolments.c.team_id == caller.team_id
                )
            )
        ).first()
        if row is None:
            raise NotFound("enrolment")
        if not await end_enrolment(conn, enrolment_id, "stopped", "unenrolled", by=caller.email):
            raise Conflict("not_enrolled", "This enrolment has already ended.")
        (view,) = await enrolment_views(conn, [enrolment_id])
    return view

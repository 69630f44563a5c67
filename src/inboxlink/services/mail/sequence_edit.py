"""Changing a sequence: its settings and steps replaced at once (`PUT /api/v1/sequences/{id}`, the
sequence's edit page). Active enrolments carry on at their next step by its number (position), at
the time already set for it: a contact waiting for step 3 gets whatever is step 3 after the edit.
Positions are what "each step is sent once" is keyed on (`sequence_sends`, unique per enrolment
and position), so an enrolment is never moved back to a number it has had. One whose number no
longer exists (the steps from there on were removed) has had all its steps: it finishes in the
same transaction as the edit, rather than staying "active" with nothing to send until its old
send time comes (up to a year away). A separate module because ending an enrolment is
`sequence_enrolments`' and that module reads sequences."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.accounts.users import Caller
from inboxlink.services.mail.sequence_enrolments import end_enrolment
from inboxlink.services.mail.sequences import (
    check_templates,
    parse_settings,
    parse_steps,
    sequence_row,
    sequence_view,
    write_steps,
)
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.sequence_tables import sequence_enrolments, sequences

__all__ = ["update_sequence"]


async def _finish_past_the_end(conn: AsyncConnection, sequence_id: int, step_count: int, by: str) -> None:
    rows = await conn.execute(
        select(sequence_enrolments.c.id).where(
            sequence_enrolments.c.sequence_id == sequence_id,
            sequence_enrolments.c.status == "active",
            sequence_enrolments.c.next_step >= step_count,
        )
    )
    for row in rows.all():
        # Its pending step job finds it ended and does nothing.
        await end_enrolment(conn, row.id, "finished", "completed", by=by, steps_removed=True)


async def update_sequence(
    rt: Runtime, caller: Caller, sequence_id: int, body: dict[str, Any]
) -> dict[str, object]:
    """Replace the sequence's settings and steps (the body of `create_sequence`); 404 before any
    422 for another team's sequence."""
    async with rt.engine.connect() as conn:
        await sequence_row(conn, caller.team_id, sequence_id)
    settings, steps = parse_settings(body), parse_steps(body.get("steps"))
    await check_templates(rt, caller, steps)
    async with rt.engine.begin() as conn:
        await sequence_row(conn, caller.team_id, sequence_id)
        await conn.execute(
            sequences.update().where(sequences.c.id == sequence_id).values(updated_at=now(), **settings)
        )
        await write_steps(conn, sequence_id, steps)
        await _finish_past_the_end(conn, sequence_id, len(steps), caller.email)
        return await sequence_view(conn, await sequence_row(conn, caller.team_id, sequence_id))

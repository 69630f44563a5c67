"""Changing a sequence: its settings and steps replaced at once (`PUT /api/v1/sequences/{id}`, the
sequence's edit page). Active enrolments carry on where they are, at the time already set: the
edit says which saved step each new step is (its `position`; the edit page always does, an API
body that names none is matched by number), and `domain.sequence_edits` moves each enrolment to
the step it was waiting for at its new number (or, when that one was removed, the step after it).
One with no step left after the ones it has had finishes in the same transaction as the edit,
rather than staying "active" with nothing to send until its old send time comes (up to a year
away).

"Each step is sent once" is keyed on (enrolment, position) in `sequence_sends`, so the emails the
kept steps became move to those steps' new positions, and a removed step's email takes the
negative of its own row id (unique, below every real position; the enrolment view shows null).
A separate module because ending an enrolment is `sequence_enrolments`' and that module reads
sequences."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.sequence_edits import kept_by_number, next_step_after_edit, positions_after_edit
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import ServiceError
from inboxlink.services.mail.sequence_enrolments import end_enrolment
from inboxlink.services.mail.sequences import (
    MAX_STEPS,
    check_templates,
    parse_settings,
    parse_steps,
    sequence_row,
    sequence_view,
    steps_of,
    write_steps,
)
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.storage.sequence_tables import sequence_enrolments, sequence_sends, sequences

__all__ = ["update_sequence"]

_MOVING = 1000  # added to a send's position while the positions are rewritten (past any real one)


def _kept(raw: list[Any], old_count: int, by_position: bool | None) -> list[int | None]:
    """Each new step's saved position (None: a new step); steps keep their order."""
    named = [step.get("position") for step in raw]
    if not (by_position if by_position is not None else any(p is not None for p in named)):
        return kept_by_number(old_count, len(raw))
    kept: list[int | None] = []
    last = -1
    for n, was in enumerate(named):
        if was is not None and (
            not isinstance(was, int) or isinstance(was, bool) or not last < was < old_count
        ):
            raise ServiceError(
                "invalid_field",
                f"steps[{n}].position must be the position of one of the sequence's saved steps, after "
                "the one named before it (steps keep their order; leave it out for a new step).",
                field=f"steps[{n}].position",
            )
        kept.append(was)
        last = was if was is not None else last
    return kept


async def _move_enrolments(conn: AsyncConnection, sequence_id: int, kept: list[int | None], by: str) -> None:
    enrolled = select(sequence_enrolments.c.id).where(sequence_enrolments.c.sequence_id == sequence_id)
    moves = positions_after_edit(kept)
    changed = [p for p in range(MAX_STEPS + 1) if moves.get(p, -1) != p]
    mine = (sequence_sends.c.enrolment_id.in_(enrolled.scalar_subquery()),)
    # Out of the way first: the unique (enrolment, position) is checked row by row.
    await conn.execute(
        sequence_sends.update()
        .where(*mine, sequence_sends.c.position.in_(changed))
        .values(position=sequence_sends.c.position + _MOVING)
    )
    to_new = {p + _MOVING: new for p, new in moves.items() if p in changed}
    removed = -sequence_sends.c.id
    await conn.execute(
        sequence_sends.update()
        .where(*mine, sequence_sends.c.position >= _MOVING)
        .values(position=case(to_new, value=sequence_sends.c.position, else_=removed) if to_new else removed)
    )
    after = {n: next_step_after_edit(kept, n) for n in range(MAX_STEPS + 1)}
    waiting = {n: new for n, new in after.items() if new != n}
    if waiting:
        await conn.execute(
            sequence_enrolments.update()
            .where(
                sequence_enrolments.c.sequence_id == sequence_id,
                sequence_enrolments.c.status == "active",
                sequence_enrolments.c.next_step.in_(list(waiting)),
            )
            .values(next_step=case(waiting, value=sequence_enrolments.c.next_step))
        )
    rows = await conn.execute(
        select(sequence_enrolments.c.id).where(
            sequence_enrolments.c.sequence_id == sequence_id,
            sequence_enrolments.c.status == "active",
            sequence_enrolments.c.next_step >= len(kept),
        )
    )
    for row in rows.all():
        # No step left after the ones it has had. Its pending step job finds it ended and does nothing.
        await end_enrolment(conn, row.id, "finished", "completed", by=by, steps_removed=True)


async def update_sequence(
    rt: Runtime, caller: Caller, sequence_id: int, body: dict[str, Any], *, by_position: bool | None = None
) -> dict[str, object]:
    """Replace the sequence's settings and steps (the body of `create_sequence`, each step with an
    optional `position`: the saved step it is); 404 before any 422 for another team's sequence.
    `by_position`: match steps by their `position` even when none names one (the edit page); by
    default only when some step does (else by number)."""
    async with rt.engine.connect() as conn:
        await sequence_row(conn, caller.team_id, sequence_id)
    settings, steps = parse_settings(body), parse_steps(body.get("steps"))
    await check_templates(rt, caller, steps)
    async with rt.engine.begin() as conn:
        await sequence_row(conn, caller.team_id, sequence_id)
        kept = _kept(body["steps"], len(await steps_of(conn, sequence_id)), by_position)
        await conn.execute(
            sequences.update().where(sequences.c.id == sequence_id).values(updated_at=now(), **settings)
        )
        await write_steps(conn, sequence_id, steps)
        await _move_enrolments(conn, sequence_id, kept, caller.email)
        return await sequence_view(conn, await sequence_row(conn, caller.team_id, sequence_id))

"""What a sequence enrolment shows (its status, next step and when, the emails its steps became and
its history), read straight from the sequence tables. It lives in crm, below mail, so that a
contact's export (crm) can include the person's enrolments without importing mail; mail's
`sequence_enrolments` re-exports it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.platform.runtime import as_utc, iso
from inboxlink.storage.sequence_tables import sequence_enrolments, sequence_history, sequence_sends, sequences
from inboxlink.storage.tables import contacts


async def enrolment_views(conn: AsyncConnection, enrolment_ids: list[int]) -> list[dict[str, object]]:
    if not enrolment_ids:
        return []
    rows = (
        await conn.execute(
            select(
                sequence_enrolments,
                sequences.c.name.label("sequence_name"),
                contacts.c.email.label("contact_email"),
            )
            .join(sequences, sequences.c.id == sequence_enrolments.c.sequence_id)
            .join(contacts, contacts.c.id == sequence_enrolments.c.contact_id)
            .where(sequence_enrolments.c.id.in_(enrolment_ids))
        )
    ).all()
    history = (
        await conn.execute(
            select(sequence_history)
            .where(sequence_history.c.enrolment_id.in_(enrolment_ids))
            .order_by(sequence_history.c.id)
        )
    ).all()
    sends = (
        await conn.execute(
            select(sequence_sends)
            .where(sequence_sends.c.enrolment_id.in_(enrolment_ids))
            .order_by(sequence_sends.c.id)  # as sent
        )
    ).all()
    by_id = {r.id: r for r in rows}
    return [_view(by_id[i], history, sends) for i in enrolment_ids if i in by_id]


def _view(row: Any, history: Sequence[Any], sends: Sequence[Any]) -> dict[str, object]:
    return {
        "id": row.id,
        "sequence_id": row.sequence_id,
        "sequence_name": row.sequence_name,
        "contact_id": row.contact_id,
        "contact_email": row.contact_email,
        "inbox_id": row.inbox_id,
        "status": row.status,
        "stop_reason": row.stop_reason,
        "next_step": row.next_step if row.status == "active" else None,
        "next_run_at": iso(as_utc(row.next_run_at)) if row.status == "active" else None,
        "created_at": iso(row.created_at),
        "ended_at": iso(row.ended_at),
        "emails": [
            # A negative position: that step was removed since (services.mail.sequence_edit).
            {"position": s.position if s.position >= 0 else None, "email_id": s.email_id}
            for s in sends
            if s.enrolment_id == row.id
        ],
        "history": [
            {"kind": h.kind, "email_id": h.email_id, "detail": h.detail, "at": iso(h.created_at)}
            for h in history
            if h.enrolment_id == row.id
        ],
    }


async def contact_enrolment_views(
    conn: AsyncConnection, team_id: int, contact_id: int
) -> list[dict[str, object]]:
    """Every enrolment of one contact of the team (all of them, for an export), oldest first."""
    ids = [
        r.id
        for r in await conn.execute(
            select(sequence_enrolments.c.id)
            .where(sequence_enrolments.c.team_id == team_id, sequence_enrolments.c.contact_id == contact_id)
            .order_by(sequence_enrolments.c.id)
        )
    ]
    return await enrolment_views(conn, ids)

"""Follow-up sequences: a named series of steps (a template, or a subject and text, sent N business
days after the previous one, optionally as a reply in the same thread), and the contacts enrolled
in it from one of the caller's inboxes. Sending is `sequence_runs`' job; what stops an enrolment,
`sequence_stops`; changing a sequence, `sequence_edit`. Sequences are the team's; an enrolment sends through its enroller's inbox."""

from __future__ import annotations

import re
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.sending_window import SendingWindow
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import sequence_content
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.storage.db import new_id
from inboxlink.storage.sequence_tables import sequence_enrolments, sequence_steps, sequences

__all__ = [
    "MAX_DELAY_DAYS",
    "MAX_STEPS",
    "check_templates",
    "create_sequence",
    "enrolment_counts",
    "get_sequence",
    "list_sequences",
    "parse_settings",
    "parse_steps",
    "sequence_row",
    "sequence_view",
    "steps_of",
    "window_of",
    "write_steps",
]

MAX_STEPS = 20
MAX_DELAY_DAYS = 365
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _clock(value: object, field: str) -> str:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ServiceError("invalid_field", f"{field} must be a time of day like 09:00.", field=field)
    return value


def window_of(row: Any) -> SendingWindow:
    start_h, start_m = map(int, row.window_start.split(":"))
    end_h, end_m = map(int, row.window_end.split(":"))
    return SendingWindow(time(start_h, start_m), time(end_h, end_m))


def parse_settings(body: dict[str, Any]) -> dict[str, Any]:
    name = str(body.get("name") or "").strip()
    if not name:
        raise ServiceError("field_required", "A sequence needs a name.", field="name")
    zone = body.get("time_zone") or "UTC"
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ServiceError(
            "invalid_field",
            f"time_zone {zone!r} is not a known time zone (e.g. Europe/Berlin).",
            field="time_zone",
        ) from exc
    start = _clock(body.get("window_start") or "09:00", "window_start")
    end = _clock(body.get("window_end") or "17:00", "window_end")
    if not start < end:
        raise ServiceError(
            "invalid_field", "The sending window must start before it ends.", field="window_end"
        )
    return {
        "name": name,
        "time_zone": str(zone),
        "window_start": start,
        "window_end": end,
        "stop_on_company_reply": bool(body.get("stop_on_company_reply", False)),
        "stop_on_auto_reply": bool(body.get("stop_on_auto_reply", False)),
    }


def parse_steps(raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise ServiceError("field_required", "A sequence needs at least one step.", field="steps")
    if len(raw) > MAX_STEPS:
        raise ServiceError("invalid_field", f"A sequence has at most {MAX_STEPS} steps.", field="steps")
    steps = []
    for position, step in enumerate(raw):
        where = f"steps[{position}]"
        if not isinstance(step, dict):
            raise ServiceError("invalid_field", f"{where} must be an object.", field=where)
        delay = step.get("delay_days", 0 if position == 0 else 1)
        if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_DAYS:
            raise ServiceError(
                "invalid_field", f"{where}.delay_days must be 0 to {MAX_DELAY_DAYS} business days.",
                field=f"{where}.delay_days",
            )  # fmt: skip
        template_id = step.get("template_id")
        subject, text = str(step.get("subject") or ""), str(step.get("text") or "")
        same_thread = bool(step.get("same_thread", False))
        if template_id is None and not (subject.strip() or text.strip()):
            raise ServiceError(
                "field_required",
                f"{where} needs a template_id, or a subject and text.",
                field=f"{where}.template_id",
            )
        if same_thread and position == 0:
            raise ServiceError(
                "invalid_field", "The first step has no earlier email to reply to: same_thread must be false.",
                field=f"{where}.same_thread",
            )  # fmt: skip
        if template_id is None and not same_thread and not subject.strip():
            raise ServiceError("field_required", f"{where} needs a subject.", field=f"{where}.subject")
        steps.append(
            {"position": position, "template_id": template_id, "subject": subject, "text": text,
             "delay_days": delay, "same_thread": same_thread}
        )  # fmt: skip
    return steps


async def check_templates(rt: Runtime, caller: Caller, steps: list[dict[str, Any]]) -> None:
    for step in steps:
        if step["template_id"] is not None:
            where = f"steps[{step['position']}].template_id"
            await sequence_content.check_template(rt, caller, step["template_id"], where)


async def enrolment_counts(conn: AsyncConnection, sequence_id: int) -> dict[str, int]:
    """How many enrolments of the sequence are active, finished and stopped."""
    rows = await conn.execute(
        select(sequence_enrolments.c.status, func.count())
        .where(sequence_enrolments.c.sequence_id == sequence_id)
        .group_by(sequence_enrolments.c.status)
    )
    counts = {"active": 0, "finished": 0, "stopped": 0}
    counts.update({r[0]: int(r[1]) for r in rows})
    return counts


async def sequence_row(conn: AsyncConnection, team_id: int, sequence_id: int) -> Any:
    row = (
        await conn.execute(
            select(sequences).where(sequences.c.id == sequence_id, sequences.c.team_id == team_id)
        )
    ).first()
    if row is None:
        raise NotFound("sequence")
    return row


async def steps_of(conn: AsyncConnection, sequence_id: int) -> list[Any]:
    return list(
        (
            await conn.execute(
                select(sequence_steps)
                .where(sequence_steps.c.sequence_id == sequence_id)
                .order_by(sequence_steps.c.position)
            )
        ).all()
    )


def _step_view(row: Any) -> dict[str, object]:
    return {
        "position": row.position,
        "template_id": row.template_id,
        "subject": row.subject,
        "text": row.text,
        "delay_days": row.delay_days,
        "same_thread": row.same_thread,
    }


async def sequence_view(conn: AsyncConnection, row: Any) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "time_zone": row.time_zone,
        "window_start": row.window_start,
        "window_end": row.window_end,
        "stop_on_company_reply": row.stop_on_company_reply,
        "stop_on_auto_reply": row.stop_on_auto_reply,
        "steps": [_step_view(s) for s in await steps_of(conn, row.id)],
        "enrolments": await enrolment_counts(conn, row.id),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


async def write_steps(conn: AsyncConnection, sequence_id: int, steps: list[dict[str, Any]]) -> None:
    await conn.execute(delete(sequence_steps).where(sequence_steps.c.sequence_id == sequence_id))
    for step in steps:
        await conn.execute(sequence_steps.insert().values(sequence_id=sequence_id, **step))


async def create_sequence(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    settings, steps = parse_settings(body), parse_steps(body.get("steps"))
    await check_templates(rt, caller, steps)
    stamp = now()
    async with rt.engine.begin() as conn:
        sequence_id = new_id(
            await conn.execute(
                sequences.insert().values(
                    team_id=caller.team_id,
                    created_by=caller.user_id,
                    created_at=stamp,
                    updated_at=stamp,
                    **settings,
                )
            )
        )
        await write_steps(conn, sequence_id, steps)
        return await sequence_view(conn, await sequence_row(conn, caller.team_id, sequence_id))


async def get_sequence(rt: Runtime, caller: Caller, sequence_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        return await sequence_view(conn, await sequence_row(conn, caller.team_id, sequence_id))


async def list_sequences(rt: Runtime, caller: Caller) -> list[dict[str, object]]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(sequences).where(sequences.c.team_id == caller.team_id).order_by(sequences.c.id)
            )
        ).all()
        return [await sequence_view(conn, r) for r in rows]

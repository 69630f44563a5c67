"""Snippets: short text blocks a team shares, inserted in the composer by typing `#shortcut`.
A shortcut is unique within a team (409 `snippet_exists` on a duplicate); another team's → 404."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import Conflict, NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import db_int, header_text, valid_unicode
from inboxlink.storage.db import new_id
from inboxlink.storage.template_tables import snippets

SHORTCUT = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
MAX_TEXT = 20_000


def snippet_view(row: Any) -> dict[str, object]:
    return {
        "id": row.id,
        "shortcut": row.shortcut,
        "name": row.name,
        "text": row.text,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _shortcut(value: object) -> str:
    text = value.strip().lstrip("#").lower() if isinstance(value, str) else ""
    if not SHORTCUT.fullmatch(text):
        raise ServiceError(
            "invalid_shortcut",
            "A shortcut is 1–40 letters, digits, - or _ (typed as #shortcut in the composer).",
            field="shortcut",
        )
    return text


def _fields(body: dict[str, Any], *, partial: bool) -> dict[str, object]:
    values: dict[str, object] = {}
    if not partial or "shortcut" in body:
        values["shortcut"] = _shortcut(body.get("shortcut"))
    if not partial or "text" in body:
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ServiceError("field_required", "A snippet needs its text.", field="text")
        if len(text) > MAX_TEXT:
            raise ServiceError("invalid_field", f"A snippet is at most {MAX_TEXT} characters.", field="text")
        values["text"] = valid_unicode(text, field="text")
    if "name" in body or not partial:
        name = header_text(body.get("name"), field="name", max_len=200).strip()
        values["name"] = name or values.get("shortcut") or ""
    return values


async def _row(conn: AsyncConnection, team_id: int, snippet_id: int) -> Any:
    db_int(snippet_id, field="snippet_id")
    row = (
        await conn.execute(select(snippets).where(snippets.c.id == snippet_id, snippets.c.team_id == team_id))
    ).first()
    if row is None:
        raise NotFound("snippet")
    return row


def _duplicate(values: dict[str, object]) -> Conflict:
    return Conflict("snippet_exists", f"The team already has a snippet #{values.get('shortcut')}.")


async def create_snippet(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    values = _fields(body, partial=False)
    stamp = now()
    try:
        async with rt.engine.begin() as conn:
            result = await conn.execute(
                snippets.insert().values(
                    team_id=caller.team_id,
                    created_by=caller.user_id,
                    created_at=stamp,
                    updated_at=stamp,
                    **values,
                )
            )
            row = await _row(conn, caller.team_id, new_id(result))
    except IntegrityError as exc:
        raise _duplicate(values) from exc
    return snippet_view(row)


async def list_snippets(rt: Runtime, caller: Caller) -> list[dict[str, object]]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(snippets).where(snippets.c.team_id == caller.team_id).order_by(snippets.c.shortcut)
            )
        ).all()
    return [snippet_view(r) for r in rows]


async def get_snippet(rt: Runtime, caller: Caller, snippet_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        return snippet_view(await _row(conn, caller.team_id, snippet_id))


async def update_snippet(
    rt: Runtime, caller: Caller, snippet_id: int, body: dict[str, Any]
) -> dict[str, object]:
    values = _fields(body, partial=True)
    try:
        async with rt.engine.begin() as conn:
            await _row(conn, caller.team_id, snippet_id)
            await conn.execute(
                snippets.update().where(snippets.c.id == snippet_id).values(updated_at=now(), **values)
            )
            row = await _row(conn, caller.team_id, snippet_id)
    except IntegrityError as exc:
        raise _duplicate(values) from exc
    return snippet_view(row)


async def delete_snippet(rt: Runtime, caller: Caller, snippet_id: int) -> None:
    async with rt.engine.begin() as conn:
        await _row(conn, caller.team_id, snippet_id)
        await conn.execute(snippets.delete().where(snippets.c.id == snippet_id))

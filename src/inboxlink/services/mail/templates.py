"""Email templates, shared by a team: create, list, read, change, delete (another team's → 404).

The source of each part is checked when saved (domain.templates.check_template), so a template that
tries more than tokens never gets stored; rendering is in `mail.template_render`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.templates import TOKEN_NAMES, TemplateRefused, check_template
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import db_int, header_text, valid_unicode
from inboxlink.storage.db import new_id
from inboxlink.storage.template_tables import email_templates


def template_view(row: Any) -> dict[str, object]:
    tokens: set[str] = set()
    for part in (row.subject, row.text, row.html or ""):
        tokens |= check_template(part).used
    return {
        "id": row.id,
        "name": row.name,
        "subject": row.subject,
        "text": row.text,
        "html": row.html,
        "tokens": [t for t in TOKEN_NAMES if t in tokens],
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def checked_part(value: object, field: str, *, header: bool = False, required: bool = False) -> str:
    """One part of a template as written: text, and nothing but text and tokens."""
    if header:
        text = header_text(value, field=field, required=required)
    else:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ServiceError("invalid_field", f"{field} must be text.", field=field)
        text = valid_unicode(value, field=field)
    try:
        check_template(text)
    except TemplateRefused as exc:
        raise ServiceError("template_invalid", f"{field}: {exc}", field=field) from exc
    return text


def _fields(body: dict[str, Any], *, partial: bool) -> dict[str, object]:
    values: dict[str, object] = {}
    if not partial or "name" in body:
        name = header_text(body.get("name"), field="name", max_len=200, required=True).strip()
        if not name:
            raise ServiceError("field_required", "A template needs a name.", field="name")
        values["name"] = name
    if not partial or "subject" in body:
        values["subject"] = checked_part(body.get("subject"), "subject", header=True)
    if not partial or "text" in body:
        values["text"] = checked_part(body.get("text"), "text")
    if not partial or "html" in body:
        html = body.get("html")
        values["html"] = checked_part(html, "html") if html else None
    return values


async def template_row(conn: AsyncConnection, team_id: int, template_id: object) -> Any:
    ident = db_int(template_id, field="template_id", what="the id of a template")
    row = (
        await conn.execute(
            select(email_templates).where(email_templates.c.id == ident, email_templates.c.team_id == team_id)
        )
    ).first()
    if row is None:
        raise NotFound("template")
    return row


async def create_template(rt: Runtime, caller: Caller, body: dict[str, Any]) -> dict[str, object]:
    values = _fields(body, partial=False)
    if not str(values["subject"]).strip() and not str(values["text"]).strip() and not values["html"]:
        raise ServiceError("field_required", "A template needs a subject or a body.", field="text")
    stamp = now()
    async with rt.engine.begin() as conn:
        result = await conn.execute(
            email_templates.insert().values(
                team_id=caller.team_id,
                created_by=caller.user_id,
                created_at=stamp,
                updated_at=stamp,
                **values,
            )
        )
        row = await template_row(conn, caller.team_id, new_id(result))
    return template_view(row)


async def list_templates(rt: Runtime, caller: Caller) -> list[dict[str, object]]:
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(email_templates)
                .where(email_templates.c.team_id == caller.team_id)
                .order_by(email_templates.c.name, email_templates.c.id)
            )
        ).all()
    return [template_view(r) for r in rows]


async def get_template(rt: Runtime, caller: Caller, template_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        return template_view(await template_row(conn, caller.team_id, template_id))


async def update_template(
    rt: Runtime, caller: Caller, template_id: int, body: dict[str, Any]
) -> dict[str, object]:
    values = _fields(body, partial=True)
    async with rt.engine.begin() as conn:
        await template_row(conn, caller.team_id, template_id)
        await conn.execute(
            email_templates.update()
            .where(email_templates.c.id == template_id)
            .values(updated_at=now(), **values)
        )
        row = await template_row(conn, caller.team_id, template_id)
    return template_view(row)


async def delete_template(rt: Runtime, caller: Caller, template_id: int) -> None:
    async with rt.engine.begin() as conn:
        await template_row(conn, caller.team_id, template_id)
        await conn.execute(email_templates.delete().where(email_templates.c.id == template_id))

"""Drafts saved while a person types (issue 14 item 6): one per user, contact and composer context
("new", "reply:<email id>", "forward:<email id>"), sealed at rest like mail bodies, never seen by
anyone but their writer (another user's or team's draft is simply not there), deleted once sent."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from inboxlink.domain.writing import DraftContext, draft_context
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contacts import get_contact_row
from inboxlink.services.crm.timeline import seal, unseal
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime, iso, now
from inboxlink.services.validation import valid_unicode
from inboxlink.storage.composer_tables import drafts

FIELDS = ("to", "cc", "subject", "text", "html", "forward_attachments")
MAX_DRAFT_CHARS = 1_000_000  # what one composer can hold; a draft is typed, not pasted megabytes


def _context(raw: object) -> DraftContext:
    found = draft_context(raw if isinstance(raw, str) else None)
    if found is None:
        raise ServiceError(
            "invalid_field", "context must be new, reply:<email id> or forward:<email id>.", field="context"
        )
    return found


def _fields(values: dict[str, Any]) -> dict[str, str]:
    kept = {k: str(values.get(k) or "") for k in FIELDS}
    for name, value in kept.items():
        valid_unicode(value, field=name)
    if sum(len(v) for v in kept.values()) > MAX_DRAFT_CHARS:
        raise ServiceError("message_too_large", "This draft is too long to be saved.", field="text")
    return kept


async def save_draft(
    rt: Runtime, caller: Caller, contact_id: int, context: object, values: dict[str, Any]
) -> dict[str, object]:
    """Keep what the composer holds (replacing the last save of the same composer)."""
    key = _context(context).key
    await get_contact_row(rt, caller, contact_id)  # 404 for another team's contact
    body = seal(rt, json.dumps(_fields(values)))
    stamp = now()
    mine = (drafts.c.user_id == caller.user_id, drafts.c.contact_id == contact_id, drafts.c.context == key)
    try:
        async with rt.engine.begin() as conn:
            changed = await conn.execute(update(drafts).where(*mine).values(body=body, updated_at=stamp))
            if not changed.rowcount:
                await conn.execute(
                    drafts.insert().values(
                        team_id=caller.team_id,
                        user_id=caller.user_id,
                        contact_id=contact_id,
                        context=key,
                        body=body,
                        updated_at=stamp,
                    )
                )
    except IntegrityError:
        # Two first saves of one composer (two tabs, overlapping debounce) both found no row: the
        # unique (user, contact, context) refused the second insert; that row is there now.
        async with rt.engine.begin() as conn:
            await conn.execute(update(drafts).where(*mine).values(body=body, updated_at=stamp))
    return {"context": key, "saved_at": iso(stamp)}


async def get_draft(
    rt: Runtime, caller: Caller, contact_id: int, context: object | None = None
) -> dict[str, object] | None:
    """The caller's draft on this contact for `context`, or (None) the most recently saved one."""
    query = select(drafts).where(
        drafts.c.user_id == caller.user_id,
        drafts.c.team_id == caller.team_id,
        drafts.c.contact_id == contact_id,
    )
    if context is not None:
        query = query.where(drafts.c.context == _context(context).key)
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(query.order_by(drafts.c.updated_at.desc(), drafts.c.id.desc()).limit(1))
        ).first()
    if row is None:
        return None
    fields = json.loads(unseal(rt, row.body) or "{}")
    return {
        "context": row.context,
        "saved_at": iso(row.updated_at),
        **{k: str(fields.get(k, "")) for k in FIELDS},
    }


async def delete_draft(rt: Runtime, caller: Caller, contact_id: int, context: object) -> bool:
    """Drop the caller's draft of that composer (sent or discarded); False when there was none."""
    key = _context(context).key
    async with rt.engine.begin() as conn:
        gone = await conn.execute(
            delete(drafts).where(
                drafts.c.user_id == caller.user_id, drafts.c.contact_id == contact_id, drafts.c.context == key
            )
        )
    return bool(gone.rowcount)

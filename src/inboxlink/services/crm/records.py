"""Reading what is on the records: one email, a thread, a contact's timeline and attachments, an
attachment's bytes. Every query is scoped to the caller's team."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select

from inboxlink.domain.media_types import media_type_or_default
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contacts import get_contact_row
from inboxlink.services.crm.timeline import email_views
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.runtime import Runtime
from inboxlink.storage.tables import attachments, email_contacts, emails, threads


async def get_email(rt: Runtime, caller: Caller, email_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        views = await email_views(rt, conn, caller.team_id, [email_id])
    if not views:
        raise NotFound("email")
    return views[0]


async def get_thread(rt: Runtime, caller: Caller, thread_id: int) -> dict[str, object]:
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(threads).where(threads.c.id == thread_id, threads.c.team_id == caller.team_id)
            )
        ).first()
        if row is None:
            raise NotFound("thread")
        ids = (
            (
                await conn.execute(
                    select(emails.c.id)
                    .where(emails.c.thread_id == thread_id)
                    .order_by(emails.c.created_at, emails.c.id)
                )
            )
            .scalars()
            .all()
        )
        items = await email_views(rt, conn, caller.team_id, list(ids))
    return {"id": row.id, "subject": row.subject, "emails": items}


DEFAULT_PAGE = 50
MAX_PAGE = 200


@dataclass(frozen=True)
class Page:
    items: list[dict[str, object]]
    next_cursor: str | None  # pass as `before` for the next (older) page; None on the last page


def _cursor(*key: object) -> str:
    """Opaque to clients: the sort key of the last item, so a page never shifts when mail arrives."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _read_cursor(cursor: str, size: int) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if (
            not isinstance(key, list)
            or len(key) != size
            or not isinstance(key[-1], int)
            or isinstance(key[-1], bool)
        ):
            raise ValueError(key)
        if not -(2**63) <= key[-1] < 2**63:
            raise ValueError(key)
        return key
    except ValueError as exc:  # binascii.Error and json.JSONDecodeError are ValueErrors
        raise ServiceError(
            "invalid_cursor", "before must be a next_cursor value from an earlier page.", field="before"
        ) from exc


# The record's filters (issue 14): which of a contact's emails a page lists.
EMAIL_FILTERS = ("all", "received", "sent", "attachments")


def email_filter(show: str) -> list[ColumnElement[bool]]:
    if show not in EMAIL_FILTERS:
        raise ServiceError("invalid_field", f"show must be one of: {', '.join(EMAIL_FILTERS)}.", field="show")
    if show == "received":
        return [emails.c.direction == "inbound"]
    if show == "sent":
        return [emails.c.direction == "outbound"]
    if show == "attachments":
        return [select(attachments.c.id).where(attachments.c.email_id == emails.c.id).exists()]
    return []


async def contact_emails(
    rt: Runtime,
    caller: Caller,
    contact_id: int,
    *,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
    show: str = "all",
) -> Page:
    """The contact's emails, newest first, `limit` at a time; `before` continues after a page;
    `show` (EMAIL_FILTERS) keeps only received, sent, or with-attachment emails."""
    await get_contact_row(rt, caller, contact_id)
    # From ix_email_contacts_timeline (contact_id, created_at, email_id): a page reads `limit` index
    # entries whatever the contact's number of emails (sorting all 10,000 took ~40 ms on SQLite).
    stamp_col, id_col = email_contacts.c.created_at, email_contacts.c.email_id
    query = (
        select(id_col.label("id"), stamp_col.label("created_at"))
        .join(emails, email_contacts.c.email_id == emails.c.id)
        .where(
            email_contacts.c.contact_id == contact_id, emails.c.team_id == caller.team_id, *email_filter(show)
        )
        .order_by(stamp_col.desc(), id_col.desc())
        .limit(limit + 1)
    )
    if before is not None:
        stamp, last_id = _read_cursor(before, 2)
        try:
            when = datetime.fromisoformat(stamp)
        except (TypeError, ValueError) as exc:
            raise ServiceError(
                "invalid_cursor", "before must be a next_cursor value from an earlier page.", field="before"
            ) from exc
        query = query.where(or_(stamp_col < when, and_(stamp_col == when, id_col < last_id)))
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        items = await email_views(rt, conn, caller.team_id, [r.id for r in rows[:limit]])
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    return Page(items, _cursor(last.created_at.isoformat(), last.id) if last is not None else None)


async def contact_attachments(
    rt: Runtime, caller: Caller, contact_id: int, *, limit: int = DEFAULT_PAGE, before: str | None = None
) -> Page:
    """Attachments of the contact's emails, newest first, `limit` at a time."""
    await get_contact_row(rt, caller, contact_id)
    return await linked_attachments(
        rt, caller, email_contacts, email_contacts.c.contact_id == contact_id, limit=limit, before=before
    )


async def linked_attachments(
    rt: Runtime,
    caller: Caller,
    link: Table,
    linked: ColumnElement[bool],
    *,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
) -> Page:
    """Attachments of the emails on one record (a row of `link` matching `linked`: a contact's,
    company's or deal's email links), newest first; the caller has checked the record is theirs."""
    query = (
        select(attachments)
        .join(link, link.c.email_id == attachments.c.email_id)
        .where(linked, attachments.c.team_id == caller.team_id)
        .order_by(attachments.c.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        [last_id] = _read_cursor(before, 1)
        query = query.where(attachments.c.id < last_id)
    async with rt.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    items: list[dict[str, object]] = [
        {
            "id": r.id,
            "filename": r.filename,
            "content_type": media_type_or_default(r.content_type),
            "size": r.size,
            "email_id": r.email_id,
            "available": r.blob is not None,
        }
        for r in rows[:limit]
    ]
    return Page(items, _cursor(rows[limit - 1].id) if len(rows) > limit else None)


@dataclass(frozen=True)
class AttachmentDownload:
    filename: str
    content_type: str
    size: int
    body: AsyncIterator[bytes]  # the plaintext, a chunk at a time (never the whole attachment)


async def _rest(first: bytes, pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for piece in pieces:
        yield piece


async def attachment_download(rt: Runtime, caller: Caller, attachment_id: int) -> AttachmentDownload:
    """The attachment's bytes as a stream. The first chunk is read here, so a missing blob or a
    key that does not decrypt is an error before any response has started."""
    async with rt.engine.connect() as conn:
        row = (
            await conn.execute(
                select(attachments).where(
                    attachments.c.id == attachment_id, attachments.c.team_id == caller.team_id
                )
            )
        ).first()
    if row is None:
        raise NotFound("attachment")
    if row.blob is None:
        raise ServiceError(
            "attachment_unavailable", "This attachment was larger than the configured limit and was not kept."
        )
    pieces = rt.attachment_store.chunks(row.blob)
    try:
        first = await anext(pieces)
    except (FileNotFoundError, StopAsyncIteration):
        # Written to the data directory of another host (the file store) or lost: say so.
        raise ServiceError(
            "attachment_unavailable",
            "This attachment's bytes are not stored where this server can read them.",
        ) from None
    # Rows stored before types were checked on parse may hold anything (`text/ht\x0bml` made the
    # HTTP server drop the connection): what goes into the Content-Type header is checked here too.
    return AttachmentDownload(
        row.filename, media_type_or_default(row.content_type), row.size, _rest(first, pieces)
    )

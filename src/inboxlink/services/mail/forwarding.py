"""Forwarding a logged email (issue 14 item 6): the original quoted under a "Forwarded message"
block and, when asked, its stored attachments copied on the server (by email id, within the
caller's team — the client never sends those bytes). The forward is a new conversation: nothing
here links it to the original's thread or Message-ID (see `domain.writing`)."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import format_datetime

from sqlalchemy import select

from inboxlink.domain.models import Attachment
from inboxlink.domain.writing import forward_subject, forwarded_block
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.timeline import email_views, team_email_row
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime, as_utc
from inboxlink.services.validation import db_int
from inboxlink.storage.tables import attachments


@dataclass(frozen=True)
class Forward:
    email_id: int
    subject: str  # "Fwd: <original subject>"
    block: str  # the quoted original, to go below the forwarder's own words
    attachments: tuple[Attachment, ...]
    contact_ids: tuple[int, ...]  # the original's contacts (where the forward was started from)


async def forward_of(
    rt: Runtime, caller: Caller, email_id: object, with_attachments: object
) -> Forward | None:
    """What forwarding `email_id` adds to a new email; None when no forward was asked for."""
    original_id = db_int(email_id, field="forward_of_email_id", what="an email id")
    if original_id is None:
        return None
    files: list[Attachment] = []
    async with rt.engine.connect() as conn:
        row = await team_email_row(conn, caller.team_id, original_id)  # NotFound for another team's
        [view] = await email_views(rt, conn, caller.team_id, [original_id])
        stored = (
            await conn.execute(
                select(attachments)
                .where(attachments.c.email_id == original_id, attachments.c.team_id == caller.team_id)
                .order_by(attachments.c.id)
            )
        ).all()
    if with_attachments is True or with_attachments in ("1", "on", "true"):
        # Refused on the stored sizes, before any bytes are read: an email can hold 100
        # attachments of up to 25 MB each, far more than one email may carry.
        total, limit = sum(i.size for i in stored if i.blob is not None), rt.settings.max_send_bytes
        if total > limit:
            raise ServiceError(
                "message_too_large",
                f"The forwarded email's attachments are {total // 1024} KB; the limit is {limit // 1024} KB. "
                "Forward without attachments, or send large files as a link.",
                field="attachments",
            )
        for item in stored:
            if item.blob is None:
                continue  # larger than the limit when logged: its bytes were never kept
            try:
                data = await rt.attachment_store.read(item.blob)
            except FileNotFoundError:
                raise ServiceError(
                    "attachment_unavailable",
                    f"The attachment {item.filename} of the forwarded email is not stored where this "
                    "server can read it. Forward without attachments, or attach the file yourself.",
                    field="attachments",
                ) from None
            files.append(Attachment(item.filename, item.content_type, data))
    sent = as_utc(row.sent_at or row.created_at)
    date = format_datetime(sent) if sent else ""
    sender = view["from"] if isinstance(view["from"], dict) else {}
    block = forwarded_block(
        sender,
        date,
        str(view["subject"] or ""),
        _list(view["to"]),
        _list(view["cc"]),
        str(view["text"] or ""),
    )
    contact_ids = view["contact_ids"] if isinstance(view["contact_ids"], list) else []
    return Forward(
        email_id=original_id,
        subject=forward_subject(str(view["subject"] or "")),
        block=block,
        attachments=tuple(files),
        contact_ids=tuple(int(c) for c in contact_ids),
    )


def _list(value: object) -> list[dict[str, str]]:
    return [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []

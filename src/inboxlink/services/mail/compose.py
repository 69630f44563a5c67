"""Sending from the CRM: validate, render and queue in one transaction (the outbox row is delivered by
`mail.delivery`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.content_types import attachment_type
from inboxlink.domain.message_ids import new_message_id, trim_references
from inboxlink.domain.models import Address, Attachment, OutgoingMessage
from inboxlink.domain.scheduling import BadSendAt, parse_send_at
from inboxlink.domain.threads import decide_thread
from inboxlink.mime.build import build_message
from inboxlink.mime.composed import text_alternative, text_to_html
from inboxlink.mime.parse import safe_filename
from inboxlink.mime.sanitize import sanitize_html
from inboxlink.services.accounts.inboxes import owned_inbox_row
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.contacts import get_contact_row
from inboxlink.services.crm.deals import sent_from_records
from inboxlink.services.crm.timeline import NewEmail, email_views, store_email, team_email_row
from inboxlink.services.errors import ServiceError
from inboxlink.services.mail import scheduled
from inboxlink.services.mail.forwarding import forward_of
from inboxlink.services.mail.replies import parent_facts
from inboxlink.services.mail.template_render import chosen, template_for_send
from inboxlink.services.platform.own_ids import sign_own_id
from inboxlink.services.platform.runtime import Runtime, now
from inboxlink.services.validation import db_int, header_text, normalise_address, valid_unicode
from inboxlink.storage.tables import outbox

MAX_RECIPIENTS = 100


def _people(raw: Any, field: str, *, required: bool = False) -> list[Address]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ServiceError(
            "invalid_field", f"{field} must be a list of {{email, name}} objects.", field=field
        )
    if required and not raw:
        raise ServiceError("field_required", f"{field}: at least one recipient is required.", field=field)
    people = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"email": item}
        if not isinstance(item, dict):
            raise ServiceError("invalid_field", f"{field}[{i}] must be an object with an email.", field=field)
        email = normalise_address(item.get("email"), field=f"{field}[{i}].email")
        name = header_text(item.get("name"), field=f"{field}[{i}].name", max_len=200)
        people.append(Address(email, name.strip()))
    return people


def _attachments(raw: Any, max_bytes: int) -> list[Attachment]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ServiceError("invalid_field", "attachments must be a list.", field="attachments")
    files = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ServiceError("invalid_field", f"attachments[{i}] must be an object.", field="attachments")
        name = header_text(
            item.get("filename"), field=f"attachments[{i}].filename", max_len=255, required=True
        )
        declared = header_text(
            item.get("content_type") or "application/octet-stream",
            field=f"attachments[{i}].content_type",
            max_len=255,
        )
        # Recorded as it goes out: a type we cannot write as one base64 part is octet-stream.
        ctype = attachment_type(declared)
        content = item.get("content_base64")
        if not isinstance(content, str):
            raise ServiceError(
                "invalid_field", f"attachments[{i}].content_base64 is required.", field="attachments"
            )
        if len(content) > max_bytes * 4 // 3 + 8:
            raise ServiceError(
                "message_too_large",
                f"attachments[{i}] is larger than the limit of {max_bytes} bytes.",
                field="attachments",
            )
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ServiceError(
                "invalid_field", f"attachments[{i}].content_base64 is not valid base64.", field="attachments"
            ) from exc
        files.append(Attachment(safe_filename(name), ctype, data))
    return files


# Called inside send_email's transaction with the new email's id: a caller's own rows (a sequence
# step's record) commit together with the email and its outbox job, or not at all.
WithinSend = Callable[[AsyncConnection, int], Awaitable[None]]


async def send_email(
    rt: Runtime, caller: Caller, body: dict[str, Any], *, within: WithinSend | None = None
) -> dict[str, object]:
    inbox_id = db_int(body.get("inbox_id"), field="inbox_id", what="the id of an inbox")
    if inbox_id is None:
        raise ServiceError(
            "invalid_field", "inbox_id is required: the connected inbox to send through.", field="inbox_id"
        )
    inbox = await owned_inbox_row(rt, caller, inbox_id)
    if inbox.status != "connected":
        raise ServiceError(
            "inbox_disconnected",
            f"The inbox {inbox.email} is disconnected ({inbox.disconnect_reason}); reconnect it before sending.",
            field="inbox_id",
        )
    to = _people(body.get("to"), "to", required=True)
    cc = _people(body.get("cc"), "cc")
    bcc = _people(body.get("bcc"), "bcc")
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise ServiceError(
            "too_many_recipients", f"At most {MAX_RECIPIENTS} recipients per email.", field="to"
        )
    send_at = _send_at(body.get("send_at"))
    # A template (`template_id`) is rendered for the first `to` recipient; given parts override it.
    rendered = await template_for_send(rt, caller.team_id, body, to[0], Address(inbox.email, caller.name))
    subject = header_text(chosen(body, "subject", rendered), field="subject")
    text = chosen(body, "text", rendered) or ""
    html = chosen(body, "html", rendered)
    if not isinstance(text, str) or (html is not None and not isinstance(html, str)):
        raise ServiceError("invalid_field", "text and html must be strings.", field="text")
    valid_unicode(text, field="text")
    valid_unicode(html or "", field="html")
    if html and not text.strip():
        text = text_alternative(html)  # an HTML-only email still gets a readable text part
    # A forward (issue 14 item 6): the original quoted below, a new conversation (no parent).
    forward = await forward_of(rt, caller, body.get("forward_of_email_id"), body.get("forward_attachments"))
    if forward is not None:
        if body.get("in_reply_to_email_id") is not None:
            raise ServiceError(
                "invalid_field", "An email is a reply or a forward, not both.", field="forward_of_email_id"
            )
        subject = subject if subject.strip() else forward.subject
        text = f"{text.rstrip()}\n\n{forward.block}" if text.strip() else forward.block
        if html is not None:
            html = f"{html}<br><br>\n<div>{text_to_html(forward.block)}</div>"
    if not text.strip() and not (html or "").strip() and not subject.strip():
        raise ServiceError("field_required", "An email needs a subject or a body.", field="text")
    limit = rt.settings.max_send_bytes
    files = _attachments(body.get("attachments"), limit)
    if forward is not None:
        files.extend(forward.attachments)
    contact_id = db_int(body.get("contact_id"), field="contact_id")
    if contact_id is not None:
        await get_contact_row(rt, caller, contact_id)  # 404 for another team's contact
    company_ids, deal_ids = await sent_from_records(rt, caller, body)  # sent from a company/deal

    parent = await _reply_parent(rt, caller, body.get("in_reply_to_email_id"))
    if parent is not None and not subject.strip():
        subject = parent.subject if parent.subject.lower().startswith("re:") else f"Re: {parent.subject}"
    chain: tuple[str, ...] = ()
    if parent is not None:
        # Bounded like the header it becomes (the first id and the newest ones; mime/build.py).
        parent_ref = (parent.message_id,) if parent.message_id else ()
        chain = trim_references((*(parent.references or ()), *parent_ref))
    sender = Address(inbox.email, caller.name)
    domain = inbox.email.rpartition("@")[2]
    message_id = new_message_id(domain)
    message = OutgoingMessage(
        message_id=message_id,
        sender=sender,
        to=tuple(to),
        cc=tuple(cc),
        bcc=tuple(bcc),
        subject=subject,
        text=text,
        html=html,
        attachments=tuple(files),
        date=send_at or now(),
        in_reply_to=parent.message_id if parent is not None else None,
        references=chain,
    )
    try:
        # The MAC lets the monitor honour the Sent copy's X-Inboxlink-Id (domain.tracking).
        raw = build_message(message, own_id_mac=sign_own_id(rt, message_id))
    except ValueError as exc:
        raise ServiceError("invalid_field", f"The email cannot be built: {exc}") from exc
    if len(raw) > limit:
        raise ServiceError(
            "message_too_large",
            f"The email is {len(raw) // 1024} KB; the limit is {limit // 1024} KB. Send large files as a link.",
            field="attachments",
        )
    stamp = now()
    async with rt.engine.begin() as conn:
        thread_id = None
        if parent is not None:
            # A reply joins the conversation unless it goes to people who were never part of it.
            facts, _contacts = await parent_facts(conn, parent.id)
            recipients = frozenset(p.email for p in (*to, *cc))
            decision = decide_thread(facts, recipients, "outbound", sender=inbox.email)
            thread_id = int(decision.thread_id) if decision.join and decision.thread_id else None
        email_id = await store_email(
            rt,
            conn,
            NewEmail(
                team_id=caller.team_id,
                direction="outbound",
                status="scheduled" if send_at else "queued",
                source="crm",
                message_id=message_id,
                dedupe_key=message_id,
                sender=sender,
                to=to,
                cc=cc,
                bcc=bcc,
                subject=subject,
                text=text,
                # What the CRM shows is sanitised like any logged mail; the wire gets what was written.
                html=sanitize_html(html) if html else None,
                sent_at=send_at,  # while scheduled: when it is to go out
                attachments=files,
                inbox_id=inbox.id,
                user_id=caller.user_id,
                thread_id=thread_id,
                in_reply_to=parent.message_id if parent is not None else None,
                references=message.references,
                contact_addresses=[*to, *cc, *bcc],
                company_ids=company_ids,
                deal_ids=deal_ids,
                # A forward also stays on the record it was forwarded from, as its own conversation.
                extra_contact_ids=[contact_id] if forward is not None and contact_id is not None else (),
            ),
        )
        await conn.execute(
            outbox.insert().values(
                email_id=email_id,
                state="scheduled" if send_at else "pending",
                attempts=0,
                next_attempt_at=send_at or stamp,
                payload=rt.box.encrypt(raw),
                updated_at=stamp,
            )
        )
        if within is not None:
            await within(conn, email_id)
        if send_at:
            await scheduled.schedule(conn, email_id, send_at)
        view = (await email_views(rt, conn, caller.team_id, [email_id]))[0]
    rt.outbox_wakeup.set()
    rt.jobs_wakeup.set()
    rt.timeline.publish(
        caller.team_id, {"type": "email", "email_id": email_id, "thread_id": view["thread_id"]}
    )
    return view


def _send_at(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_send_at(value, now())
    except BadSendAt as exc:
        raise ServiceError("invalid_send_at", str(exc), field="send_at") from exc


async def _reply_parent(rt: Runtime, caller: Caller, email_id: object) -> Any:
    """The email being answered (`in_reply_to_email_id`), of the caller's team."""
    parent_id = db_int(email_id, field="in_reply_to_email_id", what="an email id")
    if parent_id is None:
        return None
    async with rt.engine.connect() as conn:
        return await team_email_row(conn, caller.team_id, parent_id)

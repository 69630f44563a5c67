"""What a company's and a deal's record page share: one page of the record's timeline and its
attachments, and the composer whose recipients are picked from the record's contacts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import record_pages, records
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import compose
from inboxlink.web.compose_routes import ComposeError, _files, _recipients
from inboxlink.web.contact_page import (
    FILES_SHOWN,
    TIMELINE_PAGE,
    conversations,
    own_addresses,
    sending_context,
)
from inboxlink.web.deps import WebState, form_int, text


async def record_timeline(
    web: WebState, caller: Caller, kind: str, record_id: int, before: str | None = None
) -> dict[str, Any]:
    try:
        page = await record_pages.record_emails(
            web.rt, caller, kind, record_id, limit=TIMELINE_PAGE, before=before
        )
    except NotFound:
        raise
    except ServiceError:  # an edited cursor: the newest emails instead
        before = None
        page = await record_pages.record_emails(web.rt, caller, kind, record_id, limit=TIMELINE_PAGE)
    files = await record_pages.record_attachments(web.rt, caller, kind, record_id, limit=FILES_SHOWN)
    base = record_base(kind, record_id)
    return {
        "threads": conversations(page.items),
        "email_count": len(page.items),
        "older_url": f"{base}?{urlencode({'before': page.next_cursor})}#timeline"
        if page.next_cursor
        else None,
        "newest_url": f"{base}#timeline" if before else None,
        "files": files.items,
        "more_files": files.next_cursor is not None,
        "contact_id": None,  # replies open on the email's own contact
        "own_addresses": await own_addresses(web, caller),  # left out of Reply all
    }


def record_base(kind: str, record_id: int) -> str:
    return f"/{'companies' if kind == 'company' else 'deals'}/{record_id}"


async def record_parts(
    web: WebState,
    caller: Caller,
    kind: str,
    record_id: int,
    people: list[dict[str, Any]],
    label: str,
    *,
    before: str | None = None,
    errors: dict[str, str] | None = None,
    sent: int | None = None,
) -> dict[str, Any]:
    """The page context a company's and a deal's record share: the composer (open after an error
    or a send, with the email just sent), one page of the timeline, its attachments."""
    just_sent = None
    if sent is not None:
        try:
            just_sent = await records.get_email(web.rt, caller, sent)
        except NotFound:
            just_sent = None
    return {
        "errors": errors or {},
        **await record_composer(web, caller, people),
        "compose_errors": errors or {},
        "compose_open": bool(errors) or just_sent is not None,
        "just_sent": just_sent,
        "send_url": f"{record_base(kind, record_id)}/send",
        "record_label": label,
        **await record_timeline(web, caller, kind, record_id, before),
    }


def send_errors(exc: ServiceError | ComposeError) -> dict[str, str]:
    """A failed send from a record's composer → the field it is shown at."""
    field = (exc.field or "text").split("[")[0]
    return {field if field in ("to", "subject", "text") else "form": exc.message}


async def record_composer(web: WebState, caller: Caller, people: list[dict[str, Any]]) -> dict[str, Any]:
    return {**await sending_context(web, caller), "recipients": people, "compose_errors": {}, "compose": {}}


async def send_from_record(
    web: WebState, caller: Caller, form: FormData, *, company_id: int | None, deal_id: int | None
) -> dict[str, Any]:
    """The record composer's form → compose.send_email, logged on the record. ServiceError (or
    ComposeError) says what to fix."""
    picked = [{"email": v, "name": ""} for v in form.getlist("to") if isinstance(v, str) and v.strip()]
    extra = _recipients(text(form, "to_other"), "to")
    body: dict[str, Any] = {
        "inbox_id": form_int(text(form, "inbox_id")),
        "to": picked + extra,
        "subject": text(form, "subject"),
        "text": str(form.get("text") or ""),
        "attachments": await _files(form, web.rt.settings.max_send_bytes),
        "company_id": company_id,
        "deal_id": deal_id,
    }
    if not body["to"]:
        raise ServiceError("field_required", "Pick at least one recipient.", field="to")
    return await compose.send_email(web.rt, caller, body)

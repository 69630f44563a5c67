"""What a company's and a deal's record page share: one page of the record's timeline and its
attachments, and the composer whose recipients are picked from the record's contacts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import record_pages
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import compose
from inboxlink.web.compose_routes import _files, _recipients
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
    base = f"/{'companies' if kind == 'company' else 'deals'}/{record_id}"
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

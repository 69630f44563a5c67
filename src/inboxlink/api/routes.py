"""The /api/v1 routes of the contract (and a few more in the same style)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from inboxlink.api.deps import BodyDep, CallerDep, RuntimeDep
from inboxlink.services.accounts import health, inboxes, users
from inboxlink.services.crm import contacts, records
from inboxlink.services.mail import compose, relink

router = APIRouter(prefix="/api/v1")


@router.get("/me")
async def me(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return users.me(rt, caller)


@router.post("/me/bcc-address/rotate")
async def rotate_bcc(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return users.me(rt, await users.rotate_bcc_token(rt, caller))


@router.post("/inboxes", status_code=201)
async def connect_inbox(rt: RuntimeDep, caller: CallerDep, body: BodyDep) -> dict[str, object]:
    return await inboxes.connect_inbox(rt, caller, body)


@router.get("/inboxes")
async def list_inboxes(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return {"items": await inboxes.list_inboxes(rt, caller)}


@router.get("/inboxes/{inbox_id}")
async def get_inbox(rt: RuntimeDep, caller: CallerDep, inbox_id: int) -> dict[str, object]:
    return await inboxes.get_inbox(rt, caller, inbox_id)


@router.put("/inboxes/{inbox_id}/credentials")
async def update_credentials(
    rt: RuntimeDep, caller: CallerDep, inbox_id: int, body: BodyDep
) -> dict[str, object]:
    return await inboxes.update_credentials(rt, caller, inbox_id, body)


@router.delete("/inboxes/{inbox_id}", status_code=204)
async def delete_inbox(rt: RuntimeDep, caller: CallerDep, inbox_id: int) -> Response:
    await inboxes.delete_inbox(rt, caller, inbox_id)
    return Response(status_code=204)


@router.post("/contacts", status_code=201)
async def create_contact(rt: RuntimeDep, caller: CallerDep, body: BodyDep) -> dict[str, object]:
    return await contacts.create_contact(rt, caller, body)


@router.get("/contacts")
async def list_contacts(
    rt: RuntimeDep,
    caller: CallerDep,
    email: str | None = None,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, object]:
    items, total = await contacts.list_contacts(rt, caller, email=email, query=q, limit=limit, offset=offset)
    return {"items": items, "total": total}


@router.get("/contacts/{contact_id}")
async def get_contact(rt: RuntimeDep, caller: CallerDep, contact_id: int) -> dict[str, object]:
    return await contacts.get_contact(rt, caller, contact_id)


@router.get("/contacts/{contact_id}/emails")
async def contact_emails(
    rt: RuntimeDep,
    caller: CallerDep,
    contact_id: int,
    limit: Annotated[int, Query(ge=1, le=records.MAX_PAGE)] = records.DEFAULT_PAGE,
    before: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    page = await records.contact_emails(rt, caller, contact_id, limit=limit, before=before)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/contacts/{contact_id}/attachments")
async def contact_attachments(
    rt: RuntimeDep,
    caller: CallerDep,
    contact_id: int,
    limit: Annotated[int, Query(ge=1, le=records.MAX_PAGE)] = records.DEFAULT_PAGE,
    before: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    page = await records.contact_attachments(rt, caller, contact_id, limit=limit, before=before)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/attachments/{attachment_id}")
async def attachment(rt: RuntimeDep, caller: CallerDep, attachment_id: int) -> Response:
    filename, content_type, data = await records.attachment_bytes(rt, caller, attachment_id)
    return Response(
        data,
        media_type=content_type,
        headers={
            # Always a download, never rendered in our origin: an attachment may be hostile HTML.
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/emails", status_code=202)
async def send_email(rt: RuntimeDep, caller: CallerDep, body: BodyDep) -> dict[str, object]:
    return await compose.send_email(rt, caller, body)


@router.get("/emails/{email_id}")
async def get_email(rt: RuntimeDep, caller: CallerDep, email_id: int) -> dict[str, object]:
    return await records.get_email(rt, caller, email_id)


@router.post("/emails/{email_id}/relink")
async def relink_email(rt: RuntimeDep, caller: CallerDep, email_id: int, body: BodyDep) -> dict[str, object]:
    return await relink.relink_email(rt, caller, email_id, body)


@router.get("/emails/{email_id}/moves")
async def email_moves(rt: RuntimeDep, caller: CallerDep, email_id: int) -> dict[str, object]:
    await records.get_email(rt, caller, email_id)  # 404 for another team's email
    return {"items": await relink.email_move_history(rt, caller, email_id)}


@router.get("/threads/{thread_id}")
async def get_thread(rt: RuntimeDep, caller: CallerDep, thread_id: int) -> dict[str, object]:
    return await records.get_thread(rt, caller, thread_id)


@router.get("/notifications")
async def list_notifications(rt: RuntimeDep, caller: CallerDep, all: bool = False) -> dict[str, object]:
    return {"items": await health.list_notifications(rt, caller, include_resolved=all)}

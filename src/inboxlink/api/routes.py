"""The /api/v1 routes of the contract (and a few more in the same style), typed by the models of
api/schemas: every body and every answer is in /api/openapi.json."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas import bodies, views
from inboxlink.api.schemas.types import ERROR_RESPONSES
from inboxlink.services.accounts import health, inboxes, users
from inboxlink.services.crm import contacts, records
from inboxlink.services.mail import compose, relink
from inboxlink.services.validation import MAX_DB_INT, DbInt

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES)


@router.get("/me", response_model=views.Me)
async def me(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return users.me(rt, caller)


@router.post("/me/bcc-address/rotate", response_model=views.Me)
async def rotate_bcc(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return users.me(rt, await users.rotate_bcc_token(rt, caller))


@router.post("/inboxes", status_code=201, response_model=views.Inbox)
async def connect_inbox(rt: RuntimeDep, caller: CallerDep, body: bodies.InboxCreate) -> dict[str, object]:
    return await inboxes.connect_inbox(rt, caller, body.as_service_input())


@router.get("/inboxes", response_model=views.InboxList)
async def list_inboxes(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return {"items": await inboxes.list_inboxes(rt, caller)}


@router.get("/inboxes/{inbox_id}", response_model=views.Inbox)
async def get_inbox(rt: RuntimeDep, caller: CallerDep, inbox_id: DbInt) -> dict[str, object]:
    return await inboxes.get_inbox(rt, caller, inbox_id)


@router.put("/inboxes/{inbox_id}/credentials", response_model=views.Inbox)
async def update_credentials(
    rt: RuntimeDep, caller: CallerDep, inbox_id: DbInt, body: bodies.Credentials
) -> dict[str, object]:
    return await inboxes.update_credentials(rt, caller, inbox_id, body.as_service_input())


@router.delete("/inboxes/{inbox_id}", status_code=204, response_class=Response)
async def delete_inbox(rt: RuntimeDep, caller: CallerDep, inbox_id: DbInt) -> Response:
    await inboxes.delete_inbox(rt, caller, inbox_id)
    return Response(status_code=204)


@router.post("/contacts", status_code=201, response_model=views.Contact)
async def create_contact(rt: RuntimeDep, caller: CallerDep, body: bodies.ContactCreate) -> dict[str, object]:
    return await contacts.create_contact(rt, caller, body.as_service_input())


@router.get("/contacts", response_model=views.ContactList)
async def list_contacts(
    rt: RuntimeDep,
    caller: CallerDep,
    email: str | None = None,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
    sort: Literal["name", "activity", "replied"] = "name",
) -> dict[str, object]:
    items, total = await contacts.list_contacts(
        rt, caller, email=email, query=q, limit=limit, offset=offset, sort=sort
    )
    return {"items": items, "total": total}


@router.get("/contacts/{contact_id}", response_model=views.Contact)
async def get_contact(rt: RuntimeDep, caller: CallerDep, contact_id: DbInt) -> dict[str, object]:
    return await contacts.get_contact(rt, caller, contact_id)


# One page of a record's timeline: `before` is the `next_cursor` of the page before (opaque).
PageLimit = Annotated[int, Query(ge=1, le=records.MAX_PAGE)]
PageCursor = Annotated[str | None, Query(max_length=200)]


@router.get("/contacts/{contact_id}/emails", response_model=views.EmailList)
async def contact_emails(
    rt: RuntimeDep,
    caller: CallerDep,
    contact_id: DbInt,
    limit: PageLimit = records.DEFAULT_PAGE,
    before: PageCursor = None,
    show: Literal["all", "received", "sent", "attachments"] = "all",
) -> dict[str, object]:
    page = await records.contact_emails(rt, caller, contact_id, limit=limit, before=before, show=show)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/contacts/{contact_id}/attachments", response_model=views.ContactAttachmentList)
async def contact_attachments(
    rt: RuntimeDep,
    caller: CallerDep,
    contact_id: DbInt,
    limit: PageLimit = records.DEFAULT_PAGE,
    before: PageCursor = None,
) -> dict[str, object]:
    page = await records.contact_attachments(rt, caller, contact_id, limit=limit, before=before)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {
            "description": "the attachment's bytes, with its own content type",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def attachment(rt: RuntimeDep, caller: CallerDep, attachment_id: DbInt) -> Response:
    found = await records.attachment_download(rt, caller, attachment_id)
    return StreamingResponse(
        found.body,
        media_type=found.content_type,
        headers={
            "Content-Length": str(found.size),
            # Always a download, never rendered in our origin: an attachment may be hostile HTML.
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.filename)}",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/emails", status_code=202, response_model=views.EmailView)
async def send_email(rt: RuntimeDep, caller: CallerDep, body: bodies.EmailCreate) -> dict[str, object]:
    return await compose.send_email(rt, caller, body.as_service_input())


@router.get("/emails/{email_id}", response_model=views.EmailView)
async def get_email(rt: RuntimeDep, caller: CallerDep, email_id: DbInt) -> dict[str, object]:
    return await records.get_email(rt, caller, email_id)


@router.post("/emails/{email_id}/relink", response_model=views.RelinkedEmail)
async def relink_email(
    rt: RuntimeDep, caller: CallerDep, email_id: DbInt, body: bodies.Relink
) -> dict[str, object]:
    return await relink.relink_email(rt, caller, email_id, body.as_service_input())


@router.get("/emails/{email_id}/moves", response_model=views.MoveList)
async def email_moves(rt: RuntimeDep, caller: CallerDep, email_id: DbInt) -> dict[str, object]:
    await records.get_email(rt, caller, email_id)  # 404 for another team's email
    return {"items": await relink.email_move_history(rt, caller, email_id)}


@router.get("/threads/{thread_id}", response_model=views.Thread)
async def get_thread(rt: RuntimeDep, caller: CallerDep, thread_id: DbInt) -> dict[str, object]:
    return await records.get_thread(rt, caller, thread_id)


@router.get("/notifications", response_model=views.NotificationList)
async def list_notifications(rt: RuntimeDep, caller: CallerDep, all: bool = False) -> dict[str, object]:
    return {"items": await health.list_notifications(rt, caller, include_resolved=all)}

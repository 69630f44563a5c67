"""Replies routes (issue 14): unread replies per user, the Replies list, marking read/unread."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas import replies as schemas
from inboxlink.api.schemas.types import ERROR_RESPONSES
from inboxlink.services.crm import unread
from inboxlink.services.validation import DbInt

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES)


@router.get("/replies", response_model=schemas.ReplyList)
async def list_replies(
    rt: RuntimeDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=unread.MAX_PAGE)] = 25,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    unread_only: Annotated[bool, Query(alias="unread")] = False,
) -> dict[str, object]:
    items, total = await unread.list_replies(rt, caller, limit=limit, offset=offset, unread_only=unread_only)
    return {"items": items, "total": total}


@router.get("/replies/unread-count", response_model=schemas.UnreadCount)
async def unread_count(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return {"unread": await unread.unread_count(rt, caller)}


@router.put("/emails/{email_id}/read", response_model=schemas.ReadState)
async def set_read(
    rt: RuntimeDep, caller: CallerDep, email_id: DbInt, body: schemas.ReadStateUpdate
) -> dict[str, object]:
    return await unread.mark_one(rt, caller, email_id, read=not body.unread)

"""Never miss a reply (issue 14): the Replies page (unread first, newest first, across contacts),
the notifications page, the counts app.js shows in the navigation and the tab title, and marking a
reply read when the reader has seen it on a record."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from annotated_types import Interval
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from inboxlink.services.accounts import health
from inboxlink.services.crm import unread
from inboxlink.services.errors import NotFound
from inboxlink.services.validation import DbInt
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep

router = APIRouter()

PAGE_SIZE = 25
PageNumber = Annotated[int, Interval(ge=1, le=100_000)]


@router.get("/replies", include_in_schema=False)
async def replies_page(
    request: Request, web: WebDep, caller: WebCaller, page: PageNumber = 1, unread_only: bool = False
) -> Response:
    items, total = await unread.list_replies(
        web.rt, caller, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, unread_only=unread_only
    )
    pages = max(1, -(-total // PAGE_SIZE))

    def link(n: int) -> str:
        return "/replies?" + urlencode({"page": n, **({"unread_only": "true"} if unread_only else {})})

    return await web.pages.render(
        request,
        "replies.html",
        {
            "section": "replies",
            "items": items,
            "total": total,
            "unread_only": unread_only,
            "prev_url": link(page - 1) if page > 1 else None,
            "next_url": link(page + 1) if page < pages else None,
        },
        caller=caller,
    )


@router.get("/notifications", include_in_schema=False)
async def notifications_page(request: Request, web: WebDep, caller: WebCaller, all: bool = False) -> Response:
    items = await health.list_notifications(web.rt, caller, include_resolved=all)
    return await web.pages.render(
        request,
        "notifications.html",
        {"section": "notifications", "items": items, "show_all": all},
        caller=caller,
    )


@router.get("/replies/state", include_in_schema=False)
async def reply_state(web: WebDep, caller: WebCaller) -> Response:
    """What the navigation and the tab title show, re-read by app.js on every email event."""
    latest, _ = await unread.list_replies(web.rt, caller, limit=1, unread_only=True)
    notes = await health.list_notifications(web.rt, caller)
    return JSONResponse(
        {
            "unread": await unread.unread_count(web.rt, caller),
            "notifications": len(notes),
            "latest": latest[0] if latest else None,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/emails/{email_id}/seen", include_in_schema=False)
async def seen(web: WebDep, caller: WebCaller, email_id: DbInt, _: CheckedForm) -> Response:
    """A reply scrolled into view on an open record (app.js): read for this user."""
    try:
        await unread.mark_one(web.rt, caller, email_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    return JSONResponse({"unread": await unread.unread_count(web.rt, caller)})

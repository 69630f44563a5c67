"""Contacts: the searchable list, creating one, the record with its timeline, attachment downloads."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from annotated_types import Interval
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import contacts, records, unread
from inboxlink.services.crm.contact_activity import SORTS
from inboxlink.services.errors import Conflict, NotFound, ServiceError
from inboxlink.services.validation import MAX_DB_INT, MIN_DB_INT, DbInt
from inboxlink.web import contact_page
from inboxlink.web.contact_page import timeline_context
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, WebState, text

router = APIRouter()

PAGE_SIZE = 25
# A page whose offset the database can hold (SQLite raises OverflowError past 2^63 - 1).
PageNumber = Annotated[int, Interval(ge=MIN_DB_INT, le=MAX_DB_INT // PAGE_SIZE)]


@router.get("/contacts", include_in_schema=False)
async def contact_list(
    request: Request, web: WebDep, caller: WebCaller, q: str = "", page: PageNumber = 1, sort: str = "name"
) -> Response:
    return await _list_page(request, web, caller, q=q, page=page, sort=sort)


async def _list_page(
    request: Request,
    web: WebState,
    caller: Caller,
    *,
    q: str = "",
    page: int = 1,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    existing: dict[str, object] | None = None,
    sort: str = "name",
) -> Response:
    q = q.strip()[:200]
    page = max(1, page)
    sort = sort if sort in SORTS else "name"  # a hand-edited link sorts by name rather than failing
    items, total = await contacts.list_contacts(
        web.rt, caller, query=q or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, sort=sort
    )
    pages = max(1, -(-total // PAGE_SIZE))

    def link(n: int, by: str = sort) -> str:
        return "/contacts?" + urlencode(
            {**({"q": q} if q else {}), "page": n, **({"sort": by} if by != "name" else {})}
        )

    return await web.pages.render(
        request,
        "contacts.html",
        {
            "items": items,
            "total": total,
            "q": q,
            "page": page,
            "first": (page - 1) * PAGE_SIZE + 1 if total else 0,
            "last": min(page * PAGE_SIZE, total),
            "prev_url": link(page - 1) if page > 1 else None,
            "next_url": link(page + 1) if page < pages else None,
            "form": form or {},
            "errors": errors or {},
            "existing": existing,
            "sort": sort,
            "sort_links": {by: link(1, by) for by in SORTS},
        },
        caller=caller,
        status=422 if errors else 200,
    )


@router.post("/contacts", include_in_schema=False)
async def create_contact(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    values = {k: text(form, k) for k in ("email", "name", "company")}
    try:
        contact = await contacts.create_contact(web.rt, caller, values)
    except Conflict as exc:
        found, _ = await contacts.list_contacts(web.rt, caller, email=values["email"])
        return await _list_page(
            request,
            web,
            caller,
            form=values,
            errors={"email": exc.message},
            existing=found[0] if found else None,
        )
    except ServiceError as exc:
        field = exc.field if exc.field in values else "email"
        return await _list_page(request, web, caller, form=values, errors={field: exc.message})
    return RedirectResponse(f"/contacts/{contact['id']}", status_code=303)


async def _contact(web: WebState, caller: Caller, contact_id: int) -> dict[str, Any]:
    try:
        return await contacts.get_contact(web.rt, caller, contact_id)
    except NotFound as exc:
        raise PageNotFound() from exc


@router.get("/contacts/{contact_id}", include_in_schema=False)
async def contact_record(
    request: Request,
    web: WebDep,
    caller: WebCaller,
    contact_id: DbInt,
    sent: DbInt | None = None,
    reply: DbInt | None = None,
    reply_all: Annotated[bool, Query(alias="all")] = False,
    forward: DbInt | None = None,
    compose: bool = False,
    before: str | None = None,
    merged: Annotated[int, Interval(ge=0, le=MAX_DB_INT)] | None = None,
    saved: bool = False,
    show: str = "all",
) -> Response:
    contact = await _contact(web, caller, contact_id)
    just_sent = None
    if sent is not None:
        try:
            just_sent = await records.get_email(web.rt, caller, sent)
        except NotFound:
            just_sent = None
    # ?reply=<email id> (&all=1), ?forward=<email id>: the Reply, Reply all and Forward links without
    # JavaScript open the composer for that email; ?compose=1 opens it for a new one.
    composer = await contact_page.composer_state(
        web, caller, contact, reply=reply, reply_all=reply_all, forward=forward
    )
    if compose:
        composer["compose_open"] = True
    context = await contact_page.record_page(
        request, web, caller, contact, composer, just_sent=just_sent, before=before, show=show,
        merged=merged, saved=saved,
    )  # fmt: skip
    await unread.mark_read(web.rt, caller, context["unread_ids"])  # seen on the record
    return await web.pages.render(request, "contact.html", context, caller=caller)


@router.get("/contacts/{contact_id}/timeline", include_in_schema=False)
async def contact_timeline(
    request: Request,
    web: WebDep,
    caller: WebCaller,
    contact_id: DbInt,
    before: str | None = None,
    show: str = "all",
) -> Response:
    """The live parts of the record, re-fetched by app.js when an event arrives."""
    await _contact(web, caller, contact_id)
    context = await timeline_context(web, caller, contact_id, before, show)
    # caller: a scheduled email's "Cancel sending" is shown to its sender (and admins) only.
    return web.pages.fragment(request, "_timeline.html", {**context, "fragment": True, "caller": caller})


@router.get("/attachments/{attachment_id}", include_in_schema=False)
async def download(web: WebDep, caller: WebCaller, attachment_id: DbInt) -> Response:
    try:
        found = await records.attachment_download(web.rt, caller, attachment_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    except ServiceError as exc:
        return Response(exc.message, status_code=410, media_type="text/plain; charset=utf-8")
    filename = found.filename
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return StreamingResponse(
        found.body,
        media_type=found.content_type,
        headers={
            "Content-Length": str(found.size),
            # Always a download, never rendered in our origin: an attachment may be hostile HTML.
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )

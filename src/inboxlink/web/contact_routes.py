"""Contacts: the searchable list, creating one, the record with its timeline, attachment downloads."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from annotated_types import Interval
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from inboxlink.services.accounts import inboxes
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import contacts, records, unread
from inboxlink.services.crm.contact_activity import SORTS
from inboxlink.services.errors import Conflict, NotFound, ServiceError
from inboxlink.services.validation import MAX_DB_INT, MIN_DB_INT, DbInt
from inboxlink.web import contact_manage_routes, sequence_routes
from inboxlink.web import format as fmt
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, WebState, text

router = APIRouter()

PAGE_SIZE = 25
TIMELINE_PAGE = 25  # emails per page of a contact's record (each may carry up to 2 MB of HTML)
FILES_SHOWN = 50  # attachments listed beside it; the older ones stay on their emails
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


def conversations(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Threads, the most recently active first; inside a thread, oldest first (read top-down)."""
    threads: dict[object, dict[str, Any]] = {}
    for email in items:  # newest first, so the first email seen sets the thread's position
        thread = threads.setdefault(
            email["thread_id"], {"id": email["thread_id"], "emails": [], "latest": email}
        )
        thread["emails"].insert(0, email)
    for thread in threads.values():
        thread["subject"] = thread["emails"][0]["subject"] or "(no subject)"
    return list(threads.values())


async def timeline_context(
    web: WebState, caller: Caller, contact_id: int, before: str | None = None, show: str = "all"
) -> dict[str, Any]:
    """One page of the record: the newest TIMELINE_PAGE emails (or those before the `before` cursor,
    the "Older emails" link) and the newest FILES_SHOWN attachments. Never the whole history: one
    contact can hold any number of emails, and a page of everything once weighed 60 MB."""
    show = show if show in records.EMAIL_FILTERS else "all"
    try:
        page = await records.contact_emails(
            web.rt, caller, contact_id, limit=TIMELINE_PAGE, before=before, show=show
        )
    except ServiceError:  # a cursor that was edited or cut off: show the newest emails instead
        before = None
        page = await records.contact_emails(web.rt, caller, contact_id, limit=TIMELINE_PAGE, show=show)
    files = await records.contact_attachments(web.rt, caller, contact_id, limit=FILES_SHOWN)
    base = f"/contacts/{contact_id}"
    kept = {"show": show} if show != "all" else {}
    return {
        "threads": conversations(page.items),
        "email_count": len(page.items),
        "older_url": f"{base}?{urlencode({**kept, 'before': page.next_cursor})}#timeline"
        if page.next_cursor
        else None,
        "newest_url": f"{base}{'?' + urlencode(kept) if kept else ''}#timeline" if before else None,
        # Issue 14: the filters above the timeline (each link starts from the newest page).
        "show": show,
        "filter_links": {
            k: f"{base}{'?show=' + k if k != 'all' else ''}#timeline" for k in records.EMAIL_FILTERS
        },
        "files": files.items,
        "more_files": files.next_cursor is not None,
        "contact_id": contact_id,
        # Unread replies stand out; the full page marks them read (contact_record), a live
        # fragment leaves that to the reader scrolling them into view (replies.js).
        "unread_ids": await unread.unread_among(web.rt, caller, [int(str(e["id"])) for e in page.items]),
    }


async def sending_context(web: WebState, caller: Caller) -> dict[str, Any]:
    """The caller's own inboxes for the composer's From, and whether any of them can send."""
    own = [i for i in await inboxes.list_inboxes(web.rt, caller) if i["user_id"] == caller.user_id]
    return {"inboxes": own, "can_send": any(i["status"] == "connected" for i in own)}


async def reply_context(
    web: WebState, caller: Caller, contact: dict[str, Any], email_id: int | None
) -> dict[str, Any] | None:
    """The email being answered as the composer shows it; None when it is unknown or not on this record."""
    if email_id is None or not MIN_DB_INT <= email_id <= MAX_DB_INT:
        return None
    try:
        email = await records.get_email(web.rt, caller, email_id)
    except NotFound:
        return None
    on_record = email["contact_ids"]
    if not isinstance(on_record, list) or contact["id"] not in on_record:
        return None
    return {"id": email["id"], **fmt.reply_target(email)}


@router.get("/contacts/{contact_id}", include_in_schema=False)
async def contact_record(
    request: Request,
    web: WebDep,
    caller: WebCaller,
    contact_id: DbInt,
    sent: DbInt | None = None,
    reply: DbInt | None = None,
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
    # ?reply=<email id>: the Reply link without JavaScript, the composer opens answering that email;
    # ?compose=1: it opens for a new one.
    replying = await reply_context(web, caller, contact, reply)
    values = {"to": contact["email"], "cc": "", "subject": "", "text": "", "in_reply_to_email_id": ""}
    if replying:
        values.update(
            to=replying["to"] or contact["email"],
            subject=replying["subject"],
            in_reply_to_email_id=str(replying["id"]),
        )
    timeline = await timeline_context(web, caller, contact_id, before, show)
    await unread.mark_read(web.rt, caller, timeline["unread_ids"])  # seen on the record
    return await web.pages.render(
        request,
        "contact.html",
        {
            "contact": contact,
            **await sending_context(web, caller),
            "compose": values,
            "compose_errors": {},
            "compose_open": compose or replying is not None,
            "replying": replying,
            "just_sent": just_sent,
            **timeline,
            # Issue 14: the profile in the Details card, and what a merge or a save just did.
            "profile": await contact_manage_routes.profile_facts(web, caller, contact_id),
            "merged_count": merged,
            "profile_saved": saved,
            **await sequence_routes.contact_context(web.rt, caller, contact_id),
            "enrol_error": sequence_routes.enrol_error(request.query_params.get("enrol_error")),
        },
        caller=caller,
    )


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
    return web.pages.fragment(request, "_timeline.html", {**context, "fragment": True})


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

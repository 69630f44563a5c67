"""The global search box (every page's sidebar): JSON for crm.js while typing, a page without JS;
and editing a contact (name, company) from its record."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import companies, contacts
from inboxlink.services.crm.search import search
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.validation import DbInt
from inboxlink.web.deps import (
    CheckedForm,
    PageNotFound,
    WebCaller,
    WebDep,
    WebState,
    form_int,
    is_fetch,
    text,
)

router = APIRouter()


@router.get("/search", include_in_schema=False)
async def search_page(request: Request, web: WebDep, caller: WebCaller, q: str = "") -> Response:
    found = await search(web.rt, caller, q)
    if is_fetch(request) or "application/json" in request.headers.get("accept", ""):
        return JSONResponse(found, headers={"Cache-Control": "no-store"})
    return await web.pages.render(
        request, "search.html", {"q": q.strip()[:200], "found": found}, caller=caller
    )


async def _edit_page(
    request: Request, web: WebState, caller: Caller, contact_id: int, errors: dict[str, str] | None = None
) -> Response:
    try:
        contact = await contacts.get_contact(web.rt, caller, contact_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    choices, _ = await companies.list_companies(web.rt, caller, limit=200)
    return await web.pages.render(
        request,
        "contact_edit.html",
        {"contact": contact, "companies": choices, "errors": errors or {}},
        caller=caller,
        status=422 if errors else 200,
    )


@router.get("/contacts/{contact_id}/edit", include_in_schema=False)
async def edit_contact_page(request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt) -> Response:
    return await _edit_page(request, web, caller, contact_id)


@router.post("/contacts/{contact_id}/edit", include_in_schema=False)
async def edit_contact(
    request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt, form: CheckedForm
) -> Response:
    body = {"name": text(form, "name"), "company_id": form_int(text(form, "company_id"))}
    try:
        await contacts.update_contact(web.rt, caller, contact_id, body)
    except NotFound as exc:
        raise PageNotFound() from exc
    except ServiceError as exc:
        return await _edit_page(request, web, caller, contact_id, {exc.field or "name": exc.message})
    return RedirectResponse(f"/contacts/{contact_id}", status_code=303)

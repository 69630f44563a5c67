"""Companies in the web UI: the list (search, create), the record (contacts, deals, one timeline
of every email with the account, attachments, Write email), editing and merging."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import companies, deals
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.validation import DbInt
from inboxlink.web.compose_routes import ComposeError
from inboxlink.web.contact_routes import PageNumber
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, WebState, form_int, text
from inboxlink.web.record_context import record_parts, send_errors, send_from_record

router = APIRouter()
PAGE_SIZE = 25


@router.get("/companies", include_in_schema=False)
async def company_list(
    request: Request, web: WebDep, caller: WebCaller, q: str = "", page: PageNumber = 1
) -> Response:
    return await _list(request, web, caller, q=q, page=page)


async def _list(
    request: Request,
    web: WebState,
    caller: Caller,
    *,
    q: str = "",
    page: int = 1,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    q, page = q.strip()[:200], max(1, page)
    items, total = await companies.list_companies(
        web.rt, caller, query=q or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return await web.pages.render(
        request,
        "companies.html",
        {
            "items": items,
            "total": total,
            "q": q,
            "prev_url": f"/companies?page={page - 1}&q={q}" if page > 1 else None,
            "next_url": f"/companies?page={page + 1}&q={q}" if page * PAGE_SIZE < total else None,
            "form": form or {},
            "errors": errors or {},
        },
        caller=caller,
        status=422 if errors else 200,
    )


@router.post("/companies", include_in_schema=False)
async def create_company(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    values = {k: text(form, k) for k in ("name", "domain")}
    try:
        company = await companies.create_company(web.rt, caller, values)
    except ServiceError as exc:
        return await _list(request, web, caller, form=values, errors={exc.field or "name": exc.message})
    return RedirectResponse(f"/companies/{company['id']}", status_code=303)


async def _company(web: WebState, caller: Caller, company_id: int) -> dict[str, Any]:
    try:
        return await companies.get_company(web.rt, caller, company_id)
    except NotFound as exc:
        raise PageNotFound() from exc


async def _record(
    request: Request,
    web: WebState,
    caller: Caller,
    company_id: int,
    *,
    before: str | None = None,
    errors: dict[str, str] | None = None,
    sent: int | None = None,
) -> Response:
    company = await _company(web, caller, company_id)
    people = await companies.company_contacts(web.rt, caller, company_id)
    its_deals, _ = await deals.list_deals(web.rt, caller, company_id=company_id)
    others, _ = await companies.list_companies(web.rt, caller, limit=200)
    return await web.pages.render(
        request,
        "company.html",
        {
            "company": company,
            "people": people,
            "deals": its_deals,
            "merge_choices": [c for c in others if c["id"] != company_id],
            **await record_parts(
                web,
                caller,
                "company",
                company_id,
                people,
                company["name"],
                before=before,
                errors=errors,
                sent=sent,
            ),
        },
        caller=caller,
        status=422 if errors else 200,
    )


@router.get("/companies/{company_id}", include_in_schema=False)
async def company_record(
    request: Request,
    web: WebDep,
    caller: WebCaller,
    company_id: DbInt,
    before: str | None = None,
    sent: DbInt | None = None,
) -> Response:
    return await _record(request, web, caller, company_id, before=before, sent=sent)


@router.post("/companies/{company_id}", include_in_schema=False)
async def edit_company(
    request: Request, web: WebDep, caller: WebCaller, company_id: DbInt, form: CheckedForm
) -> Response:
    await _company(web, caller, company_id)
    try:
        await companies.update_company(
            web.rt, caller, company_id, {"name": text(form, "name"), "domain": text(form, "domain") or None}
        )
    except ServiceError as exc:
        return await _record(request, web, caller, company_id, errors={exc.field or "name": exc.message})
    return RedirectResponse(f"/companies/{company_id}", status_code=303)


@router.post("/companies/{company_id}/merge", include_in_schema=False)
async def merge_company(
    request: Request, web: WebDep, caller: WebCaller, company_id: DbInt, form: CheckedForm
) -> Response:
    await _company(web, caller, company_id)
    try:
        await companies.merge_companies(web.rt, caller, company_id, form_int(text(form, "from_id")) or 0)
    except ServiceError as exc:
        return await _record(request, web, caller, company_id, errors={"from_id": exc.message})
    return RedirectResponse(f"/companies/{company_id}", status_code=303)


@router.post("/companies/{company_id}/send", include_in_schema=False)
async def send(
    request: Request, web: WebDep, caller: WebCaller, company_id: DbInt, form: CheckedForm
) -> Response:
    await _company(web, caller, company_id)
    try:
        email = await send_from_record(web, caller, form, company_id=company_id, deal_id=None)
    except (ServiceError, ComposeError) as exc:
        return await _record(request, web, caller, company_id, errors=send_errors(exc))
    return RedirectResponse(f"/companies/{company_id}?sent={email['id']}#composer", status_code=303)

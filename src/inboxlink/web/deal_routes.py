"""Deals in the web UI: the board by stage (or a list, filtered by stage, owner, company),
creating one, the record (timeline, contacts, company, stage change, Write email), editing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import companies, contacts, deals
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.validation import DbInt
from inboxlink.web.compose_routes import ComposeError
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, WebState, form_int, text
from inboxlink.web.record_context import record_parts, send_errors, send_from_record

router = APIRouter()


async def _choices(web: WebState, caller: Caller) -> dict[str, Any]:
    pipeline = (await deals.get_pipeline(web.rt, caller))["stages"]
    all_companies, _ = await companies.list_companies(web.rt, caller, limit=200)
    return {"stages": pipeline, "companies": all_companies}


@router.get("/deals", include_in_schema=False)
async def deal_board(
    request: Request,
    web: WebDep,
    caller: WebCaller,
    view: str = "board",
    stage: str = "",
    company_id: DbInt | None = None,
    mine: bool = False,
) -> Response:
    return await _board(request, web, caller, view=view, stage=stage, company_id=company_id, mine=mine)


async def _board(
    request: Request,
    web: WebState,
    caller: Caller,
    *,
    view: str = "board",
    stage: str = "",
    company_id: int | None = None,
    mine: bool = False,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    items, total = await deals.list_deals(
        web.rt,
        caller,
        stage=stage[:40] or None,
        company_id=company_id,
        owner_id=caller.user_id if mine else None,
        limit=200,
    )
    choices = await _choices(web, caller)
    names = {c["id"]: c["name"] for c in choices["companies"]}
    columns = [{**s, "deals": [d for d in items if d["stage"] == s["key"]]} for s in choices["stages"]]
    return await web.pages.render(
        request,
        "deals.html",
        {
            "items": items,
            "total": total,
            "columns": columns,
            "company_names": names,
            "view": "list" if view == "list" else "board",
            "filters": {"stage": stage, "company_id": company_id, "mine": mine},
            "form": form or {},
            "errors": errors or {},
            **choices,
        },
        caller=caller,
        status=422 if errors else 200,
    )


def _deal_body(form: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": text(form, "name")}
    if text(form, "stage"):
        body["stage"] = text(form, "stage")
    body["company_id"] = form_int(text(form, "company_id"))
    body["amount"] = text(form, "amount") or None
    body["currency"] = text(form, "currency") or None
    body["close_date"] = text(form, "close_date") or None
    return body


@router.post("/deals", include_in_schema=False)
async def create_deal(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    body = _deal_body(form)
    contact_id = form_int(text(form, "contact_id"))
    if contact_id is not None:
        body["contact_ids"] = [contact_id]
    try:
        deal = await deals.create_deal(web.rt, caller, body)
    except ServiceError as exc:
        values = {
            k: text(form, k) for k in ("name", "stage", "company_id", "amount", "currency", "close_date")
        }
        return await _board(request, web, caller, form=values, errors={exc.field or "name": exc.message})
    return RedirectResponse(f"/deals/{deal['id']}", status_code=303)


async def _deal(web: WebState, caller: Caller, deal_id: int) -> dict[str, Any]:
    try:
        return await deals.get_deal(web.rt, caller, deal_id)
    except NotFound as exc:
        raise PageNotFound() from exc


async def _record(
    request: Request,
    web: WebState,
    caller: Caller,
    deal_id: int,
    *,
    before: str | None = None,
    errors: dict[str, str] | None = None,
    sent: int | None = None,
) -> Response:
    deal = await _deal(web, caller, deal_id)
    people = [await contacts.get_contact(web.rt, caller, c) for c in deal["contact_ids"]]
    company = await companies.get_company(web.rt, caller, deal["company_id"]) if deal["company_id"] else None
    candidates = await companies.company_contacts(web.rt, caller, deal["company_id"]) if company else []
    return await web.pages.render(
        request,
        "deal.html",
        {
            "deal": deal,
            "people": people,
            "company": company,
            "addable": [c for c in candidates if c["id"] not in deal["contact_ids"]],
            **await _choices(web, caller),
            **await record_parts(
                web, caller, "deal", deal_id, people, deal["name"], before=before, errors=errors, sent=sent
            ),
        },
        caller=caller,
        status=422 if errors else 200,
    )


@router.get("/deals/{deal_id}", include_in_schema=False)
async def deal_record(
    request: Request,
    web: WebDep,
    caller: WebCaller,
    deal_id: DbInt,
    before: str | None = None,
    sent: DbInt | None = None,
) -> Response:
    return await _record(request, web, caller, deal_id, before=before, sent=sent)


@router.post("/deals/{deal_id}", include_in_schema=False)
async def edit_deal(
    request: Request, web: WebDep, caller: WebCaller, deal_id: DbInt, form: CheckedForm
) -> Response:
    deal = await _deal(web, caller, deal_id)
    body = _deal_body(form) if text(form, "name") else {"stage": text(form, "stage")}
    add = form_int(text(form, "add_contact_id"))
    remove = form_int(text(form, "remove_contact_id"))
    if add is not None or remove is not None:
        body = {"contact_ids": [c for c in [*deal["contact_ids"], *([add] if add else [])] if c != remove]}
    try:
        await deals.update_deal(web.rt, caller, deal_id, body)
    except ServiceError as exc:
        return await _record(request, web, caller, deal_id, errors={exc.field or "name": exc.message})
    return RedirectResponse(f"/deals/{deal_id}", status_code=303)


@router.post("/deals/{deal_id}/send", include_in_schema=False)
async def send(
    request: Request, web: WebDep, caller: WebCaller, deal_id: DbInt, form: CheckedForm
) -> Response:
    await _deal(web, caller, deal_id)
    try:
        email = await send_from_record(web, caller, form, company_id=None, deal_id=deal_id)
    except (ServiceError, ComposeError) as exc:
        return await _record(request, web, caller, deal_id, errors=send_errors(exc))
    return RedirectResponse(f"/deals/{deal_id}?sent={email['id']}#composer", status_code=303)

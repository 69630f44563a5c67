"""/api/v1/companies: the contract's company routes, plus editing, merging and a contact's company."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.routes import PageCursor, PageLimit
from inboxlink.api.schemas import crm, views
from inboxlink.api.schemas.types import ERROR_RESPONSES
from inboxlink.services.crm import companies, contacts, record_pages, records
from inboxlink.services.validation import MAX_DB_INT, DbInt

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES)


@router.post("/companies", status_code=201, response_model=crm.Company)
async def create_company(rt: RuntimeDep, caller: CallerDep, body: crm.CompanyCreate) -> dict[str, object]:
    return await companies.create_company(rt, caller, body.as_service_input())


@router.get("/companies", response_model=crm.CompanyList)
async def list_companies(
    rt: RuntimeDep,
    caller: CallerDep,
    domain: Annotated[str | None, Query(max_length=253)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
) -> dict[str, object]:
    items, total = await companies.list_companies(
        rt, caller, domain=domain, query=q, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.get("/companies/{company_id}", response_model=crm.Company)
async def get_company(rt: RuntimeDep, caller: CallerDep, company_id: DbInt) -> dict[str, object]:
    return await companies.get_company(rt, caller, company_id)


@router.patch("/companies/{company_id}", response_model=crm.Company)
async def update_company(
    rt: RuntimeDep, caller: CallerDep, company_id: DbInt, body: crm.CompanyUpdate
) -> dict[str, object]:
    return await companies.update_company(rt, caller, company_id, body.model_dump(exclude_unset=True))


@router.post("/companies/{company_id}/merge", response_model=crm.Company)
async def merge_companies(
    rt: RuntimeDep, caller: CallerDep, company_id: DbInt, body: crm.CompanyMerge
) -> dict[str, object]:
    return await companies.merge_companies(rt, caller, company_id, body.from_id)


@router.get("/companies/{company_id}/contacts", response_model=views.ContactList)
async def company_contacts(rt: RuntimeDep, caller: CallerDep, company_id: DbInt) -> dict[str, object]:
    items = await companies.company_contacts(rt, caller, company_id)
    return {"items": items, "total": len(items)}


@router.get("/companies/{company_id}/emails", response_model=crm.RecordEmails)
async def company_emails(
    rt: RuntimeDep,
    caller: CallerDep,
    company_id: DbInt,
    limit: PageLimit = records.DEFAULT_PAGE,
    before: PageCursor = None,
) -> dict[str, object]:
    page = await record_pages.record_emails(rt, caller, "company", company_id, limit=limit, before=before)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/companies/{company_id}/attachments", response_model=crm.RecordAttachments)
async def company_attachments(
    rt: RuntimeDep,
    caller: CallerDep,
    company_id: DbInt,
    limit: PageLimit = records.DEFAULT_PAGE,
    before: PageCursor = None,
) -> dict[str, object]:
    page = await record_pages.record_attachments(
        rt, caller, "company", company_id, limit=limit, before=before
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.put("/contacts/{contact_id}/company", response_model=views.Contact)
async def set_contact_company(
    rt: RuntimeDep, caller: CallerDep, contact_id: DbInt, body: crm.ContactCompany
) -> dict[str, object]:
    await companies.set_contact_company(rt, caller, contact_id, body.company_id)
    return await contacts.get_contact(rt, caller, contact_id)

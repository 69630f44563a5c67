"""/api/v1/deals and /api/v1/pipeline: the contract's deal routes, listing with filters, the team's stages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.routes import PageCursor, PageLimit
from inboxlink.api.schemas import crm
from inboxlink.api.schemas.types import ERROR_RESPONSES
from inboxlink.services.crm import deals, record_pages, records
from inboxlink.services.validation import MAX_DB_INT, DbInt

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES)


@router.get("/pipeline", response_model=crm.Pipeline)
async def get_pipeline(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return await deals.get_pipeline(rt, caller)


@router.put("/pipeline", response_model=crm.Pipeline)
async def set_pipeline(rt: RuntimeDep, caller: CallerDep, body: crm.PipelineIn) -> dict[str, object]:
    return await deals.set_pipeline(rt, caller, body.as_service_input())


@router.post("/deals", status_code=201, response_model=crm.Deal)
async def create_deal(rt: RuntimeDep, caller: CallerDep, body: crm.DealCreate) -> dict[str, object]:
    return await deals.create_deal(rt, caller, body.as_service_input())


@router.get("/deals", response_model=crm.DealList)
async def list_deals(
    rt: RuntimeDep,
    caller: CallerDep,
    stage: Annotated[str | None, Query(max_length=40)] = None,
    owner_id: DbInt | None = None,
    company_id: DbInt | None = None,
    contact_id: DbInt | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
) -> dict[str, object]:
    items, total = await deals.list_deals(
        rt,
        caller,
        stage=stage,
        owner_id=owner_id,
        company_id=company_id,
        contact_id=contact_id,
        query=q,
        limit=limit,
        offset=offset,
    )
    return {"items": items, "total": total}


@router.get("/deals/{deal_id}", response_model=crm.Deal)
async def get_deal(rt: RuntimeDep, caller: CallerDep, deal_id: DbInt) -> dict[str, object]:
    return await deals.get_deal(rt, caller, deal_id)


@router.patch("/deals/{deal_id}", response_model=crm.Deal)
async def update_deal(
    rt: RuntimeDep, caller: CallerDep, deal_id: DbInt, body: crm.DealUpdate
) -> dict[str, object]:
    return await deals.update_deal(rt, caller, deal_id, body.as_service_input())


@router.get("/deals/{deal_id}/emails", response_model=crm.RecordEmails)
async def deal_emails(
    rt: RuntimeDep,
    caller: CallerDep,
    deal_id: DbInt,
    limit: PageLimit = records.DEFAULT_PAGE,
    before: PageCursor = None,
) -> dict[str, object]:
    page = await record_pages.record_emails(rt, caller, "deal", deal_id, limit=limit, before=before)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/deals/{deal_id}/attachments", response_model=crm.RecordAttachments)
async def deal_attachments(
    rt: RuntimeDep,
    caller: CallerDep,
    deal_id: DbInt,
    limit: PageLimit = records.DEFAULT_PAGE,
    before: PageCursor = None,
) -> dict[str, object]:
    page = await record_pages.record_attachments(rt, caller, "deal", deal_id, limit=limit, before=before)
    return {"items": page.items, "next_cursor": page.next_cursor}

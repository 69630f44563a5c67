"""Template, snippet and scheduled-send routes (issue 16; docs/api.md "Templates and scheduled sending")."""

from __future__ import annotations

from fastapi import APIRouter, Response

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas import templates as schemas
from inboxlink.api.schemas.types import ERROR_RESPONSES, ErrorResponse
from inboxlink.services.mail import scheduled, snippets, template_render, templates
from inboxlink.services.validation import DbInt

router = APIRouter(
    prefix="/api/v1",
    route_class=JsonRoute,
    responses={**ERROR_RESPONSES, 409: {"model": ErrorResponse, "description": "a conflict"}},
)


@router.get("/templates", response_model=schemas.TemplateList)
async def list_templates(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return {"items": await templates.list_templates(rt, caller)}


@router.post("/templates", status_code=201, response_model=schemas.TemplateView)
async def create_template(
    rt: RuntimeDep, caller: CallerDep, body: schemas.TemplateCreate
) -> dict[str, object]:
    return await templates.create_template(rt, caller, body.as_service_input())


@router.get("/templates/{template_id}", response_model=schemas.TemplateView)
async def get_template(rt: RuntimeDep, caller: CallerDep, template_id: DbInt) -> dict[str, object]:
    return await templates.get_template(rt, caller, template_id)


@router.put("/templates/{template_id}", response_model=schemas.TemplateView)
async def update_template(
    rt: RuntimeDep, caller: CallerDep, template_id: DbInt, body: schemas.TemplateUpdate
) -> dict[str, object]:
    return await templates.update_template(rt, caller, template_id, body.as_service_input())


@router.delete("/templates/{template_id}", status_code=204, response_class=Response)
async def delete_template(rt: RuntimeDep, caller: CallerDep, template_id: DbInt) -> Response:
    await templates.delete_template(rt, caller, template_id)
    return Response(status_code=204)


@router.post("/templates/{template_id}/preview", response_model=schemas.Preview)
async def preview_template(
    rt: RuntimeDep, caller: CallerDep, template_id: DbInt, body: schemas.PreviewRequest
) -> dict[str, object]:
    return await template_render.preview(rt, caller, template_id, body.as_service_input())


@router.get("/snippets", response_model=schemas.SnippetList)
async def list_snippets(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return {"items": await snippets.list_snippets(rt, caller)}


@router.post("/snippets", status_code=201, response_model=schemas.SnippetView)
async def create_snippet(rt: RuntimeDep, caller: CallerDep, body: schemas.SnippetCreate) -> dict[str, object]:
    return await snippets.create_snippet(rt, caller, body.as_service_input())


@router.get("/snippets/{snippet_id}", response_model=schemas.SnippetView)
async def get_snippet(rt: RuntimeDep, caller: CallerDep, snippet_id: DbInt) -> dict[str, object]:
    return await snippets.get_snippet(rt, caller, snippet_id)


@router.put("/snippets/{snippet_id}", response_model=schemas.SnippetView)
async def update_snippet(
    rt: RuntimeDep, caller: CallerDep, snippet_id: DbInt, body: schemas.SnippetUpdate
) -> dict[str, object]:
    return await snippets.update_snippet(rt, caller, snippet_id, body.as_service_input())


@router.delete("/snippets/{snippet_id}", status_code=204, response_class=Response)
async def delete_snippet(rt: RuntimeDep, caller: CallerDep, snippet_id: DbInt) -> Response:
    await snippets.delete_snippet(rt, caller, snippet_id)
    return Response(status_code=204)


@router.delete("/emails/{email_id}", status_code=204, response_class=Response)
async def cancel_email(rt: RuntimeDep, caller: CallerDep, email_id: DbInt) -> Response:
    """Cancel a scheduled email (409 `not_scheduled` once it is sent or on its way)."""
    await scheduled.cancel_scheduled(rt, caller, email_id)
    return Response(status_code=204)

"""Privacy routes: never-log lists, forgetting a contact, a contact's export, privacy settings."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas import privacy as schemas
from inboxlink.api.schemas.types import ERROR_RESPONSES, ErrorResponse
from inboxlink.services.crm import export, forget, never_log, retention
from inboxlink.services.errors import ServiceError
from inboxlink.services.validation import DbInt

router = APIRouter(
    prefix="/api/v1",
    route_class=JsonRoute,
    responses={**ERROR_RESPONSES, 403: {"model": ErrorResponse, "description": "an admin is needed"}},
)


@router.get("/never-log", response_model=schemas.NeverLogList)
async def list_never_log(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return {"items": await never_log.list_entries(rt, caller)}


@router.post("/never-log", status_code=201, response_model=schemas.NeverLogEntry)
async def add_never_log(rt: RuntimeDep, caller: CallerDep, body: schemas.NeverLogCreate) -> dict[str, object]:
    return await never_log.add_entry(rt, caller, body.as_service_input())


@router.delete("/never-log/{entry_id}", status_code=204, response_class=Response)
async def delete_never_log(rt: RuntimeDep, caller: CallerDep, entry_id: DbInt) -> Response:
    await never_log.delete_entry(rt, caller, entry_id)
    return Response(status_code=204)


@router.delete("/contacts/{contact_id}", status_code=204, response_class=Response)
async def delete_contact(
    rt: RuntimeDep,
    caller: CallerDep,
    contact_id: DbInt,
    forget_: Annotated[bool, Query(alias="forget")] = False,
) -> Response:
    if not forget_:
        raise ServiceError(
            "forget_required",
            "Deleting a contact forgets them (GDPR erasure: their emails and files go, the address is "
            "never logged again); say so with ?forget=true.",
            field="forget",
        )
    await forget.forget_contact(rt, caller, contact_id)
    return Response(status_code=204)


@router.get(
    "/contacts/{contact_id}/export",
    response_class=StreamingResponse,
    responses={
        200: {"description": "a ZIP: data.json and the attachments", "content": {"application/zip": {}}}
    },
)
async def export_contact(rt: RuntimeDep, caller: CallerDep, contact_id: DbInt) -> StreamingResponse:
    name, chunks = await export.export_contact(rt, caller, contact_id)
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/privacy", response_model=schemas.PrivacySettings)
async def get_privacy(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return await never_log.privacy_settings(rt, caller.team_id)


@router.put("/privacy", response_model=schemas.PrivacySettings)
async def put_privacy(
    rt: RuntimeDep, caller: CallerDep, body: schemas.PrivacySettingsUpdate
) -> dict[str, object]:
    return await never_log.update_privacy_settings(rt, caller, body.as_service_input())


@router.get("/privacy/retention-preview", response_model=schemas.RetentionPreview)
async def retention_preview(
    rt: RuntimeDep, caller: CallerDep, days: Annotated[int, Query(ge=1, le=36_500)]
) -> dict[str, object]:
    found = await retention.preview(rt, caller.team_id, days)
    return {"days": days, "emails": found.emails, "attachments": found.attachments, "bytes": found.bytes}

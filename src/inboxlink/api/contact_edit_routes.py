"""Editing and merging contacts (issue 14): PATCH a contact's profile, merge a duplicate into it."""

from __future__ import annotations

from fastapi import APIRouter

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas import contact_edit as schemas
from inboxlink.api.schemas.types import ERROR_RESPONSES
from inboxlink.services.crm import contact_edit
from inboxlink.services.validation import DbInt

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES)


@router.get("/contacts/{contact_id}/profile", response_model=schemas.ContactProfile)
async def get_profile(rt: RuntimeDep, caller: CallerDep, contact_id: DbInt) -> dict[str, object]:
    return await contact_edit.profile(rt, caller, contact_id)


@router.patch("/contacts/{contact_id}", response_model=schemas.ContactProfile)
async def update_contact(
    rt: RuntimeDep, caller: CallerDep, contact_id: DbInt, body: schemas.ContactUpdate
) -> dict[str, object]:
    return await contact_edit.update_profile(rt, caller, contact_id, body.as_service_input())


@router.post("/contacts/{contact_id}/merge", response_model=schemas.MergedContact)
async def merge_contact(
    rt: RuntimeDep, caller: CallerDep, contact_id: DbInt, body: schemas.ContactMerge
) -> dict[str, object]:
    return await contact_edit.merge_contacts(rt, caller, contact_id, body.other_id)

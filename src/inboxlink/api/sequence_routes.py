"""/api/v1/sequences and /api/v1/enrolments: follow-up sequences, enrolling contacts, and what each
enrolment did (issue 16; docs/api.md, "Sequences")."""

from __future__ import annotations

from fastapi import APIRouter

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas import sequences as schemas
from inboxlink.api.schemas.types import ERROR_RESPONSES
from inboxlink.services.crm.contacts import get_contact_row
from inboxlink.services.mail import sequence_edit, sequence_enrolments, sequences
from inboxlink.services.validation import DbInt

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES, tags=["sequences"])


@router.post("/sequences", status_code=201, response_model=schemas.Sequence)
async def create_sequence(rt: RuntimeDep, caller: CallerDep, body: schemas.SequenceIn) -> dict[str, object]:
    return await sequences.create_sequence(rt, caller, body.as_service_input())


@router.get("/sequences", response_model=schemas.SequenceList)
async def list_sequences(rt: RuntimeDep, caller: CallerDep) -> dict[str, object]:
    return {"items": await sequences.list_sequences(rt, caller)}


@router.get("/sequences/{sequence_id}", response_model=schemas.Sequence)
async def get_sequence(rt: RuntimeDep, caller: CallerDep, sequence_id: DbInt) -> dict[str, object]:
    return await sequences.get_sequence(rt, caller, sequence_id)


@router.put("/sequences/{sequence_id}", response_model=schemas.Sequence)
async def update_sequence(
    rt: RuntimeDep, caller: CallerDep, sequence_id: DbInt, body: schemas.SequenceIn
) -> dict[str, object]:
    return await sequence_edit.update_sequence(rt, caller, sequence_id, body.as_service_input())


@router.post("/sequences/{sequence_id}/enrolments", status_code=201, response_model=schemas.EnrolResult)
async def enrol(
    rt: RuntimeDep, caller: CallerDep, sequence_id: DbInt, body: schemas.EnrolIn
) -> dict[str, object]:
    made, errors = await sequence_enrolments.enrol_contacts(
        rt, caller, sequence_id, body.inbox_id, body.contact_ids
    )
    return {"items": made, "errors": errors}


@router.get("/sequences/{sequence_id}/enrolments", response_model=schemas.EnrolmentList)
async def sequence_enrolment_list(rt: RuntimeDep, caller: CallerDep, sequence_id: DbInt) -> dict[str, object]:
    return {"items": await sequence_enrolments.list_enrolments(rt, caller, sequence_id=sequence_id)}


@router.get("/contacts/{contact_id}/enrolments", response_model=schemas.EnrolmentList)
async def contact_enrolment_list(rt: RuntimeDep, caller: CallerDep, contact_id: DbInt) -> dict[str, object]:
    await get_contact_row(rt, caller, contact_id)  # 404 for another team's contact
    return {"items": await sequence_enrolments.list_enrolments(rt, caller, contact_id=contact_id)}


@router.delete("/enrolments/{enrolment_id}", response_model=schemas.Enrolment)
async def unenrol(rt: RuntimeDep, caller: CallerDep, enrolment_id: DbInt) -> dict[str, object]:
    return await sequence_enrolments.unenrol(rt, caller, enrolment_id)

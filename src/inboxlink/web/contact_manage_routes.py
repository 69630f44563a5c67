"""Contacts you can manage (issue 14): the profile form (name, first/last name, phone, job title,
owner, lifecycle stage, company), merging a duplicate into a contact, deleting one. Plain forms;
another team's contact is the 404 page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from inboxlink.domain.lifecycle import LIFECYCLE_STAGES
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import companies, contact_edit, contacts
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.validation import DbInt
from inboxlink.storage.tables import users
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, WebState, form_int, text

router = APIRouter()

PROFILE_FIELDS = ("name", "first_name", "last_name", "phone", "job_title")


async def _team_users(web: WebState, caller: Caller) -> list[Any]:
    async with web.rt.engine.connect() as conn:
        query = select(users.c.id, users.c.name, users.c.email).where(users.c.team_id == caller.team_id)
        return list((await conn.execute(query.order_by(users.c.name, users.c.email))).all())


async def _profile(web: WebState, caller: Caller, contact_id: int) -> dict[str, Any]:
    try:
        return await contact_edit.profile(web.rt, caller, contact_id)
    except NotFound as exc:
        raise PageNotFound() from exc


async def _profile_page(
    request: Request,
    web: WebState,
    caller: Caller,
    contact_id: int,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    contact = await _profile(web, caller, contact_id)
    choices, _ = await companies.list_companies(web.rt, caller, limit=200)
    return await web.pages.render(
        request,
        "contact_profile.html",
        {
            "section": "contacts",
            "contact": {**contact, **(values or {})},
            "companies": choices,
            "owners": await _team_users(web, caller),
            "stages": LIFECYCLE_STAGES,
            "errors": errors or {},
            "error_summary": [
                {"href": f"#profile-{k}", "label": k.replace("_", " ").capitalize(), "message": v}
                for k, v in (errors or {}).items()
            ],
            "summary_title": "The contact wasn’t saved",
        },
        caller=caller,
        status=422 if errors else 200,
    )


async def profile_facts(web: WebState, caller: Caller, contact_id: int) -> dict[str, Any]:
    """What the record's Details card shows of the profile (owner by name, stage by label)."""
    found = await _profile(web, caller, contact_id)
    owner = next((u for u in await _team_users(web, caller) if u.id == found["owner_id"]), None)
    return {
        **found,
        "owner": (owner.name or owner.email) if owner else "",
        "stage": LIFECYCLE_STAGES.get(str(found["lifecycle_stage"] or ""), ""),
    }


@router.get("/contacts/{contact_id}/profile", include_in_schema=False)
async def profile_page(request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt) -> Response:
    return await _profile_page(request, web, caller, contact_id)


@router.post("/contacts/{contact_id}/profile", include_in_schema=False)
async def save_profile(
    request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt, form: CheckedForm
) -> Response:
    body: dict[str, Any] = {k: text(form, k) for k in PROFILE_FIELDS}
    body["owner_id"] = form_int(text(form, "owner_id"))
    body["lifecycle_stage"] = text(form, "lifecycle_stage") or None
    try:
        await contact_edit.update_profile(web.rt, caller, contact_id, body)
        await contacts.update_contact(
            web.rt, caller, contact_id, {"company_id": form_int(text(form, "company_id"))}
        )
    except NotFound as exc:
        if exc.code == "contact_not_found":
            raise PageNotFound() from exc
        return await _profile_page(request, web, caller, contact_id, {"owner_id": exc.message}, body)
    except ServiceError as exc:
        field = exc.field if exc.field in {*PROFILE_FIELDS, "lifecycle_stage", "owner_id"} else "name"
        return await _profile_page(request, web, caller, contact_id, {field: exc.message}, body)
    return RedirectResponse(f"/contacts/{contact_id}?saved=1", status_code=303)


async def _merge_page(
    request: Request, web: WebState, caller: Caller, contact_id: int, error: str = ""
) -> Response:
    contact = await _profile(web, caller, contact_id)
    others, _ = await contacts.list_contacts(web.rt, caller, limit=200)
    return await web.pages.render(
        request,
        "contact_merge.html",
        {
            "section": "contacts",
            "contact": contact,
            "others": [c for c in others if c["id"] != contact_id],
            "error": error,
            "error_summary": [{"href": "#merge-other", "label": "Duplicate", "message": error}]
            if error
            else [],
            "summary_title": "Nothing was merged",
        },
        caller=caller,
        status=422 if error else 200,
    )


@router.get("/contacts/{contact_id}/merge", include_in_schema=False)
async def merge_page(request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt) -> Response:
    return await _merge_page(request, web, caller, contact_id)


@router.post("/contacts/{contact_id}/merge", include_in_schema=False)
async def merge(
    request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt, form: CheckedForm
) -> Response:
    other = form_int(text(form, "other_id"))
    if other is None:
        return await _merge_page(
            request, web, caller, contact_id, "Pick the duplicate to merge into this contact."
        )
    try:
        merged = await contact_edit.merge_contacts(web.rt, caller, contact_id, other)
    except NotFound as exc:
        if exc.code == "contact_not_found" and other is not None:
            # The duplicate (or this contact) is gone or another team's: the form again, or the 404 page.
            await _profile(web, caller, contact_id)
            return await _merge_page(request, web, caller, contact_id, "That contact no longer exists.")
        raise PageNotFound() from exc
    except ServiceError as exc:
        return await _merge_page(request, web, caller, contact_id, exc.message)
    moved = merged["merged"]
    assert isinstance(moved, dict)
    return RedirectResponse(f"/contacts/{contact_id}?merged={moved['emails']}", status_code=303)


@router.get("/contacts/{contact_id}/delete", include_in_schema=False)
async def delete_page(
    request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt, error: str = ""
) -> Response:
    contact = await _profile(web, caller, contact_id)
    return await web.pages.render(
        request,
        "contact_delete.html",
        {"section": "contacts", "contact": contact, "error": error},
        caller=caller,
    )


@router.post("/contacts/{contact_id}/delete", include_in_schema=False)
async def delete(
    request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt, _: CheckedForm
) -> Response:
    try:
        await contact_edit.delete_contact(web.rt, caller, contact_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    except ServiceError as exc:
        contact = await _profile(web, caller, contact_id)
        return await web.pages.render(
            request,
            "contact_delete.html",
            {"section": "contacts", "contact": contact, "error": exc.message,
             "error_summary": [{"href": "#delete-h", "label": "Delete", "message": exc.message}],
             "summary_title": "The contact wasn’t deleted"},
            caller=caller,
            status=422,
        )  # fmt: skip
    return RedirectResponse("/contacts?deleted=1", status_code=303)

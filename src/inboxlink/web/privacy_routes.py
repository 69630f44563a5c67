"""Settings → Privacy: never-log lists (the user's own; the team's for admins), internal domains,
retention with a preview of what it removes, and forgetting a person by address (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import forget, never_log, retention
from inboxlink.services.errors import ServiceError
from inboxlink.services.validation import DbInt, normalise_address
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, WebState, form_int, text

router = APIRouter()


async def _page(
    request: Request, web: WebState, caller: Caller, *, error: str = "", notice: str = "", status: int = 200
) -> Response:
    settings = await never_log.privacy_settings(web.rt, caller.team_id)
    preview = None
    days = form_int(request.query_params.get("preview_days", "")[:6])
    if days and caller.is_admin and 1 <= days <= never_log.MAX_RETENTION_DAYS:
        preview = {"days": days, **vars(await retention.preview(web.rt, caller.team_id, days))}
    entries = await never_log.list_entries(web.rt, caller)
    return await web.pages.render(
        request,
        "privacy.html",
        {
            "team_entries": [e for e in entries if e["scope"] == "team"],
            "my_entries": [e for e in entries if e["scope"] == "me"],
            "settings": settings,
            "preview": preview,
            "error": error,
            "notice": notice or request.query_params.get("done", ""),
        },
        caller=caller,
        status=status,
    )


@router.get("/settings/privacy", include_in_schema=False)
async def privacy(request: Request, web: WebDep, caller: WebCaller) -> Response:
    return await _page(request, web, caller)


@router.post("/settings/privacy/never-log", include_in_schema=False)
async def add(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    try:
        await never_log.add_entry(
            web.rt, caller, {"value": text(form, "value"), "scope": text(form, "scope") or "me"}
        )
    except ServiceError as exc:
        return await _page(request, web, caller, error=exc.message, status=exc.status)
    return RedirectResponse("/settings/privacy#never-log", status_code=303)


@router.post("/settings/privacy/never-log/{entry_id}/delete", include_in_schema=False)
async def remove(
    request: Request, web: WebDep, caller: WebCaller, entry_id: DbInt, _: CheckedForm
) -> Response:
    try:
        await never_log.delete_entry(web.rt, caller, entry_id)
    except ServiceError as exc:
        if exc.status == 404:
            raise PageNotFound() from exc
        return await _page(request, web, caller, error=exc.message, status=exc.status)
    return RedirectResponse("/settings/privacy#never-log", status_code=303)


@router.post("/settings/privacy/team", include_in_schema=False)
async def team_settings(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    body: dict[str, object] = {"internal_domains": text(form, "internal_domains")}
    days = text(form, "retention_days")
    body["retention_days"] = None if not days else (form_int(days[:6]) or days)
    try:
        await never_log.update_privacy_settings(web.rt, caller, body)
    except ServiceError as exc:
        return await _page(request, web, caller, error=exc.message, status=exc.status)
    return RedirectResponse("/settings/privacy?done=saved#team", status_code=303)


@router.post("/settings/privacy/forget", include_in_schema=False)
async def forget_person(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    try:
        never_log.require_admin(caller)
        address = normalise_address(text(form, "email"), field="email")
        if text(form, "confirm") != "yes":
            raise ServiceError("confirm_required", "Tick the box to confirm: this cannot be undone.")
        await forget.forget_address(web.rt, caller.team_id, address, caller.email)
    except ServiceError as exc:
        return await _page(request, web, caller, error=exc.message, status=exc.status)
    return RedirectResponse("/settings/privacy?done=forgotten#forget", status_code=303)

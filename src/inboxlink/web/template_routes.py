"""Templates and snippets in the web UI (issue 16): the team's templates with an editor, a token
picker and a live preview for a chosen contact; the snippets list; what the composer needs to insert
a template or a `#shortcut`; cancelling a scheduled email from the timeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from inboxlink.domain.templates import TOKEN_NAMES
from inboxlink.services.crm.contacts import list_contacts
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import scheduled, snippets, template_render, templates
from inboxlink.services.validation import DbInt
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, form_int, text

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


def _parts(form: Any) -> dict[str, Any]:
    return {
        "name": text(form, "name"),
        "subject": text(form, "subject"),
        "text": str(form.get("text") or ""),
        "html": str(form.get("html") or "") or None,
    }


async def _page(
    request: Request,
    web: WebDep,
    caller: WebCaller,
    *,
    editing: dict[str, Any] | None = None,
    error: str | None = None,
    snippet_error: str | None = None,
    status: int = 200,
) -> Response:
    people, _total = await list_contacts(web.rt, caller, limit=200)
    context = {
        "templates": await templates.list_templates(web.rt, caller),
        "snippets": await snippets.list_snippets(web.rt, caller),
        "editing": editing or {},
        "tokens": TOKEN_NAMES,
        "people": people,
        "error": error,
        "snippet_error": snippet_error,
        "section": "templates",
    }
    return await web.pages.render(request, "templates.html", context, caller=caller, status=status)


@router.get("/templates", include_in_schema=False)
async def page(request: Request, web: WebDep, caller: WebCaller) -> Response:
    editing = None
    chosen = form_int(request.query_params.get("edit", ""))
    if chosen is not None:
        try:
            editing = await templates.get_template(web.rt, caller, chosen)
        except NotFound as exc:
            raise PageNotFound() from exc
    return await _page(request, web, caller, editing=editing)


@router.post("/templates", include_in_schema=False)
async def save(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    parts = _parts(form)
    template_id = form_int(text(form, "template_id"))
    try:
        if template_id is None:
            saved = await templates.create_template(web.rt, caller, parts)
        else:
            saved = await templates.update_template(web.rt, caller, template_id, parts)
    except NotFound as exc:
        raise PageNotFound() from exc
    except ServiceError as exc:
        editing = {**parts, "id": template_id}
        return await _page(request, web, caller, editing=editing, error=exc.message, status=422)
    return RedirectResponse(f"/templates?edit={saved['id']}&saved=1", status_code=303)


@router.post("/templates/{template_id}/delete", include_in_schema=False)
async def delete(web: WebDep, caller: WebCaller, template_id: DbInt, _: CheckedForm) -> Response:
    try:
        await templates.delete_template(web.rt, caller, template_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    return RedirectResponse("/templates", status_code=303)


@router.post("/templates/preview", include_in_schema=False)
async def preview(web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    """The editor's live preview: what is typed, rendered for the chosen contact (not saved)."""
    contact_id = form_int(text(form, "preview_contact_id"))
    if contact_id is None:
        return JSONResponse({"error": "Pick a contact to preview the template for."}, headers=NO_STORE)
    try:
        shown = await template_render.preview_draft(web.rt, caller, _parts(form), contact_id)
    except ServiceError as exc:
        return JSONResponse({"error": exc.message}, headers=NO_STORE)
    return JSONResponse({"subject": shown.subject, "text": shown.text, "html": shown.html}, headers=NO_STORE)


@router.post("/snippets", include_in_schema=False)
async def add_snippet(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    body = {
        "shortcut": text(form, "shortcut"),
        "name": text(form, "name"),
        "text": str(form.get("text") or ""),
    }
    try:
        await snippets.create_snippet(web.rt, caller, body)
    except ServiceError as exc:
        return await _page(request, web, caller, snippet_error=exc.message, status=exc.status)
    return RedirectResponse("/templates#snippets", status_code=303)


@router.post("/snippets/{snippet_id}/delete", include_in_schema=False)
async def delete_snippet(web: WebDep, caller: WebCaller, snippet_id: DbInt, _: CheckedForm) -> Response:
    try:
        await snippets.delete_snippet(web.rt, caller, snippet_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    return RedirectResponse("/templates#snippets", status_code=303)


@router.get("/composer/inserts", include_in_schema=False)
async def inserts(web: WebDep, caller: WebCaller) -> Response:
    """For the composer's "Insert template" menu and `#shortcut` expansion."""
    return JSONResponse(
        {
            "templates": [
                {"id": t["id"], "name": t["name"]} for t in await templates.list_templates(web.rt, caller)
            ],
            "snippets": [
                {"shortcut": s["shortcut"], "name": s["name"], "text": s["text"]}
                for s in await snippets.list_snippets(web.rt, caller)
            ],
        },
        headers=NO_STORE,
    )


@router.get("/templates/{template_id}/for/{contact_id}", include_in_schema=False)
async def rendered_for(web: WebDep, caller: WebCaller, template_id: DbInt, contact_id: DbInt) -> Response:
    """A saved template rendered for the record's contact, to fill the composer."""
    try:
        async with web.rt.engine.connect() as conn:
            shown = await template_render.render_for_contact(
                web.rt, conn, template_id, contact_id, caller.user_id
            )
    except ServiceError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=NO_STORE)
    return JSONResponse({"subject": shown.subject, "text": shown.text}, headers=NO_STORE)


@router.post("/emails/{email_id}/cancel", include_in_schema=False)
async def cancel(
    request: Request, web: WebDep, caller: WebCaller, email_id: DbInt, _: CheckedForm
) -> Response:
    try:
        await scheduled.cancel_scheduled(web.rt, caller, email_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    except ServiceError:
        pass  # sent meanwhile: the record shows what happened
    back = request.headers.get("referer") or "/contacts"
    return RedirectResponse(back if back.startswith(str(request.base_url)) else "/contacts", status_code=303)

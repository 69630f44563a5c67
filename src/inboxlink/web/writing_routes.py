"""Writing like in a mail client (issue 14 item 6), the web side: drafts saved while typing
(app.js posts the composer, debounced, with the CSRF header) and the signature on the settings page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from inboxlink.mime.composed import composed_html
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import drafts, signatures
from inboxlink.services.validation import DbInt
from inboxlink.web import settings_routes
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, text

router = APIRouter()


@router.post("/contacts/{contact_id}/draft", include_in_schema=False)
async def save_draft(web: WebDep, caller: WebCaller, contact_id: DbInt, form: CheckedForm) -> Response:
    values = {k: text(form, k) for k in ("to", "cc", "subject")}
    values["text"] = str(form.get("text") or "")
    values["html"] = composed_html(str(form.get("html") or ""))  # kept as it would be sent
    values["forward_attachments"] = "1" if text(form, "forward_attachments") else ""
    try:
        saved = await drafts.save_draft(web.rt, caller, contact_id, text(form, "draft_context"), values)
    except NotFound as exc:
        raise PageNotFound() from exc
    except ServiceError as exc:
        return JSONResponse({"error": {"field": exc.field or "form", "message": exc.message}}, 422)
    return JSONResponse({"draft": saved}, headers={"Cache-Control": "no-store"})


@router.get("/contacts/{contact_id}/draft", include_in_schema=False)
async def get_draft(web: WebDep, caller: WebCaller, contact_id: DbInt, context: str = "new") -> Response:
    """The caller's draft of one composer (app.js asks when Reply switches the composer)."""
    try:
        found = await drafts.get_draft(web.rt, caller, contact_id, context)
    except ServiceError as exc:
        raise PageNotFound() from exc
    if found is None:
        raise PageNotFound()
    return JSONResponse({"draft": found}, headers={"Cache-Control": "no-store"})


@router.post("/contacts/{contact_id}/draft/discard", include_in_schema=False)
async def discard_draft(
    request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt, form: CheckedForm
) -> Response:
    try:
        await drafts.delete_draft(web.rt, caller, contact_id, text(form, "draft_context"))
    except ServiceError:
        pass  # nothing of that name to discard
    if request.headers.get("x-requested-with") == "fetch":
        return JSONResponse({"discarded": True})
    return RedirectResponse(f"/contacts/{contact_id}?compose=1#composer", status_code=303)


@router.post("/settings/signature", include_in_schema=False)
async def save_signature(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    try:
        await signatures.set_signature(web.rt, caller, str(form.get("signature") or ""))
    except ServiceError as exc:
        return await settings_routes.page(
            request, web, caller, signature_form=str(form.get("signature") or ""), signature_error=exc.message
        )
    return RedirectResponse("/settings?signature=saved#signature", status_code=303)

"""Settings → Webhooks (admins): the team's endpoints, their recent deliveries and failures, a
"send test event" button, "retry" on a failed delivery, and adding/removing an endpoint (the secret is shown once, on the page
that follows the creation)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from inboxlink.services.accounts import webhooks
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.platform.events import EVENT_TYPES
from inboxlink.services.validation import DbInt
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, text

router = APIRouter()


async def _page(
    request: Request,
    web: WebDep,
    caller: WebCaller,
    *,
    error: str | None = None,
    created: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    if not caller.is_admin:
        raise PageNotFound()
    endpoints = await webhooks.list_webhooks(web.rt, caller)
    for endpoint in endpoints:
        endpoint["deliveries"] = await webhooks.list_deliveries(
            web.rt, caller, int(str(endpoint["id"])), limit=10
        )
    context = {
        "endpoints": endpoints,
        "event_types": EVENT_TYPES,
        "error": error,
        "created": created,
        "tested": request.query_params.get("tested"),
    }
    return await web.pages.render(request, "webhooks.html", context, caller=caller, status=status)


@router.get("/settings/webhooks", include_in_schema=False)
async def page(request: Request, web: WebDep, caller: WebCaller) -> Response:
    return await _page(request, web, caller)


@router.post("/settings/webhooks", include_in_schema=False)
async def add(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    kinds = [str(v) for v in form.getlist("events")]
    try:
        created = await webhooks.create_webhook(web.rt, caller, text(form, "url"), kinds)
    except ServiceError as exc:
        return await _page(request, web, caller, error=exc.message, status=422)
    return await _page(request, web, caller, created=created, status=201)


@router.post("/settings/webhooks/{webhook_id}/test", include_in_schema=False)
async def send_test(web: WebDep, caller: WebCaller, webhook_id: DbInt, _: CheckedForm) -> Response:
    try:
        await webhooks.send_test_event(web.rt, caller, webhook_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    return RedirectResponse(f"/settings/webhooks?tested={webhook_id}#webhook-{webhook_id}", status_code=303)


@router.post("/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", include_in_schema=False)
async def retry(
    web: WebDep, caller: WebCaller, webhook_id: DbInt, delivery_id: DbInt, _: CheckedForm
) -> Response:
    try:
        await webhooks.retry_delivery(web.rt, caller, webhook_id, delivery_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    return RedirectResponse(f"/settings/webhooks#webhook-{webhook_id}", status_code=303)


@router.post("/settings/webhooks/{webhook_id}/remove", include_in_schema=False)
async def remove(web: WebDep, caller: WebCaller, webhook_id: DbInt, _: CheckedForm) -> Response:
    try:
        await webhooks.delete_webhook(web.rt, caller, webhook_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    return RedirectResponse("/settings/webhooks", status_code=303)

"""The web UI: server-rendered pages (Jinja2) at `/`, a little vanilla JS, live updates over SSE.

`install(app)` mounts it on the FastAPI app that `api.app.create_app` built (the runtime is in
`app.state.runtime`). Pages: /login, /contacts, /contacts/{id} (record, timeline, composer),
/companies, /companies/{id}, /deals (board or list), /deals/{id}, /search, /import,
/settings (inboxes, BCC address), /settings/webhooks (admins), /settings/privacy (never-log,
retention, forget), /replies and /notifications (issue 14), /templates (templates and snippets), /sequences
and /sequences/{id} (+ /edit); /events is the SSE feed; /static holds app.css and app.js.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from inboxlink.services.platform.runtime import Runtime
from inboxlink.web import (
    asset_routes,
    auth_routes,
    company_routes,
    compose_routes,
    contact_manage_routes,
    contact_routes,
    deal_routes,
    events,
    import_routes,
    oauth_routes,
    privacy_routes,
    reply_routes,
    search_routes,
    sequence_routes,
    settings_routes,
    template_routes,
    webhook_routes,
    writing_routes,
)
from inboxlink.web.deps import CsrfFailed, LoginRequired, PageNotFound, WebState, is_fetch, optional_caller
from inboxlink.web.render import STATIC_DIR, Pages
from inboxlink.web.security import Signer, SignInThrottle, derive_key

__all__ = ["install"]


def install(app: FastAPI) -> None:
    """Mount the web UI on `app`; calling it twice changes nothing."""
    if getattr(app.state, "web", None) is not None:
        return
    rt: Runtime = app.state.runtime
    signer = Signer(derive_key(rt))
    web = WebState(rt=rt, signer=signer, pages=Pages(rt, signer), throttle=SignInThrottle())
    app.state.web = web
    crm_pages = (company_routes, deal_routes, search_routes, import_routes)
    for module in (
        auth_routes,
        contact_routes,
        compose_routes,
        settings_routes,
        privacy_routes,
        oauth_routes,
        events,
        *crm_pages,
        webhook_routes,
        reply_routes,
        asset_routes,
        contact_manage_routes,
        template_routes,
        sequence_routes,
        writing_routes,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if is_fetch(request) or request.url.path == "/events":
            return JSONResponse({"error": {"code": "signed_out", "message": "Sign in again."}}, 401)
        return RedirectResponse(f"/login?next={exc.next_path}", status_code=303)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, _: PageNotFound) -> Response:
        caller = await optional_caller(request, web)
        return await web.pages.render(request, "not_found.html", {}, caller=caller, status=404)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, _: CsrfFailed) -> Response:
        if is_fetch(request):
            message = "This page is out of date. Reload it and try again."
            return JSONResponse({"error": {"field": "form", "message": message}}, 403)
        return await web.pages.render(request, "expired.html", {}, status=403)

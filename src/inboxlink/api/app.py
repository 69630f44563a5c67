"""The FastAPI application: the JSON API under /api/v1, the web UI at /, and error mapping."""

from __future__ import annotations

from fastapi import FastAPI

from inboxlink import __version__, web
from inboxlink.api import errors
from inboxlink.api.company_routes import router as company_router
from inboxlink.api.contact_edit_routes import router as contact_edit_router
from inboxlink.api.csv_routes import router as csv_router
from inboxlink.api.deal_routes import router as deal_router
from inboxlink.api.limits import BodyLimit
from inboxlink.api.metrics_route import router as metrics_router
from inboxlink.api.oauth_routes import router as oauth_router
from inboxlink.api.privacy_routes import router as privacy_router
from inboxlink.api.reply_routes import router as reply_router
from inboxlink.api.routes import router
from inboxlink.api.search_routes import router as search_router
from inboxlink.api.sequence_routes import router as sequence_router
from inboxlink.api.template_routes import router as template_router
from inboxlink.api.webhook_routes import router as webhook_router
from inboxlink.services.platform.runtime import Runtime
from inboxlink.web.frame_options import FrameOptions


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(
        title="inboxlink", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    app.state.runtime = rt
    errors.install(app)
    app.include_router(router)
    app.include_router(oauth_router)
    app.include_router(company_router)
    app.include_router(deal_router)
    app.include_router(csv_router)
    app.include_router(webhook_router)
    app.include_router(privacy_router)
    app.include_router(reply_router)
    app.include_router(contact_edit_router)
    app.include_router(template_router)
    app.include_router(metrics_router)
    app.include_router(sequence_router)
    app.include_router(search_router)
    web.install(app)
    # base64 grows attachments by 4/3; room for the rest of the request on top.
    app.add_middleware(BodyLimit, limit=rt.settings.max_send_bytes * 4 // 3 + 1024 * 1024)
    app.add_middleware(FrameOptions)  # outermost: the BodyLimit's own 413 gets it too
    return app

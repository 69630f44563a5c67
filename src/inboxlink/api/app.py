"""The FastAPI application: the JSON API under /api/v1, the web UI at /, and error mapping."""

from __future__ import annotations

from fastapi import FastAPI

from inboxlink import __version__, web
from inboxlink.api import errors
from inboxlink.api.routes import router
from inboxlink.services.runtime import Runtime


def create_app(rt: Runtime) -> FastAPI:
    app = FastAPI(
        title="inboxlink", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    app.state.runtime = rt
    errors.install(app)
    app.include_router(router)
    web.install(app)
    return app

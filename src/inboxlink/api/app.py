"""The FastAPI application: the API routes, the web UI (when present) and error mapping."""

from __future__ import annotations

from fastapi import FastAPI

from inboxlink import __version__
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
    return app

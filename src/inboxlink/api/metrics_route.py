"""GET /metrics: the process's Prometheus metrics in the text format. Not behind the API's user
tokens (a scraper is no user) but protected as an operator expects: with INBOXLINK_METRICS_TOKEN
set, only `Authorization: Bearer <that token>`; without it, loopback clients only (behind a reverse
proxy on the same host, set INBOXLINK_TRUSTED_PROXIES or the token: the proxy itself is loopback)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from inboxlink.api.deps import RuntimeDep
from inboxlink.domain.network import is_loopback_host
from inboxlink.services.platform import metrics
from inboxlink.services.platform.runtime import Runtime

router = APIRouter()


def _refusal(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request, rt: RuntimeDep) -> Response:
    token = rt.settings.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            return _refusal(
                401, "unauthorized", "Send INBOXLINK_METRICS_TOKEN as 'Authorization: Bearer TOKEN'."
            )
    elif request.client is None or not is_loopback_host(request.client.host):
        return _refusal(
            403,
            "forbidden",
            "/metrics answers loopback clients only; set INBOXLINK_METRICS_TOKEN to scrape it from elsewhere.",
        )
    body = await metrics.scrape(rt)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def metrics_app(rt: Runtime) -> FastAPI:
    """`inboxlink worker`'s listener (INBOXLINK_METRICS_HTTP): GET /metrics alone, same protection."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = rt
    app.include_router(router)
    return app

"""/favicon.ico: browsers ask for it on every page they open without a <link rel="icon"> (JSON
answers, downloads), so it exists rather than filling the logs with 404s."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from inboxlink.web.render import STATIC_DIR

router = APIRouter()

ICON = (STATIC_DIR / "favicon.svg").read_bytes()


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response:
    return Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})

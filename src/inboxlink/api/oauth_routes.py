"""The API half of the OAuth2 flow (docs/api.md, "OAuth2 mailboxes"): start it. The browser comes
back to /oauth/callback, which the web UI serves (web/oauth_routes.py)."""

from __future__ import annotations

from fastapi import APIRouter

from inboxlink.api.deps import CallerDep, JsonRoute, RuntimeDep
from inboxlink.api.schemas import bodies, views
from inboxlink.api.schemas.types import ERROR_RESPONSES
from inboxlink.services.accounts import oauth

router = APIRouter(prefix="/api/v1", route_class=JsonRoute, responses=ERROR_RESPONSES)


@router.post("/inboxes/oauth/{provider}", response_model=views.AuthorizationUrl)
async def start_oauth(
    rt: RuntimeDep, caller: CallerDep, provider: str, body: bodies.OAuthStart | None = None
) -> dict[str, object]:
    """→ {"authorization_url"}: send the user's browser there; optional body {"inbox_id"} reconnects."""
    return await oauth.start_authorization(rt, caller, provider, body.as_service_input() if body else {})

"""The API half of the OAuth2 flow (docs/api.md, "OAuth2 mailboxes"): start it. The browser comes
back to /oauth/callback, which the web UI serves (web/oauth_routes.py)."""

from __future__ import annotations

from fastapi import APIRouter

from inboxlink.api.deps import BodyDep, CallerDep, RuntimeDep
from inboxlink.services.accounts import oauth

router = APIRouter(prefix="/api/v1")


@router.post("/inboxes/oauth/{provider}")
async def start_oauth(rt: RuntimeDep, caller: CallerDep, provider: str, body: BodyDep) -> dict[str, object]:
    """→ {"authorization_url"}: send the user's browser there; optional body {"inbox_id"} reconnects."""
    return await oauth.start_authorization(rt, caller, provider, body)

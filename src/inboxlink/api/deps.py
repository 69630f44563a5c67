"""Request dependencies: the runtime, the authenticated caller and the JSON body."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request

from inboxlink.services.accounts.users import Caller, caller_for_token
from inboxlink.services.errors import ServiceError, Unauthorized
from inboxlink.services.platform.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_caller(request: Request, rt: RuntimeDep) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "unauthorized",
            "Send an API token as 'Authorization: Bearer TOKEN' (create one with `inboxlink tokens create EMAIL`).",
        )
    return await caller_for_token(rt, token.strip())


CallerDep = Annotated[Caller, Depends(get_caller)]


async def json_body(request: Request) -> dict[str, Any]:
    # The size was already bounded by the BodyLimit middleware (api/limits.py).
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ServiceError("invalid_json", f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ServiceError("invalid_json", "The request body must be a JSON object.")
    return body


BodyDep = Annotated[dict[str, Any], Depends(json_body)]

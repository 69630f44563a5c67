"""Request dependencies: the runtime, the authenticated caller, and the route class that refuses
a body that is not JSON before the request models see it."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from inboxlink.services.accounts.users import Caller, caller_for_token
from inboxlink.services.errors import ServiceError, Unauthorized
from inboxlink.services.platform.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]

# Declares the scheme in /api/openapi.json; the answer without a token stays ours (auto_error off).
_bearer = HTTPBearer(auto_error=False, description="an API token from `inboxlink tokens create EMAIL`")


async def get_caller(
    rt: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    token = credentials.credentials.strip() if credentials is not None else ""
    if not token:
        raise Unauthorized(
            "unauthorized",
            "Send an API token as 'Authorization: Bearer TOKEN' (create one with `inboxlink tokens create EMAIL`).",
        )
    return await caller_for_token(rt, token)


CallerDep = Annotated[Caller, Depends(get_caller)]


class JsonRoute(APIRoute):
    """Routes with a body answer 422 `invalid_json` with the parser's own words when the body is
    not JSON (FastAPI would say 400 "There was an error parsing the body" for bytes that are not
    UTF-8). The size was already bounded by the BodyLimit middleware (api/limits.py)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            raw = await request.body()  # kept by the request: the handler reads it again for free
            if raw.strip():
                try:
                    json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ServiceError("invalid_json", f"The request body is not valid JSON: {exc}.") from exc
            return await handler(request)

        return checked

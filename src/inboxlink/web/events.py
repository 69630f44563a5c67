"""Server-Sent Events: the team's timeline events (an email logged, sent or failed; an inbox changed
state), so an open page refreshes the part that changed without a reload.

Events carry ids only; the page re-fetches HTML through the usual access checks. The feed is
in-process (Runtime.timeline): with separate worker processes the pages still catch up through their
own short polling of what they wait for (the composer) and on the next navigation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from inboxlink.web.deps import WebCaller, WebDep

router = APIRouter()

KEEPALIVE = 15.0  # seconds; proxies drop idle connections, and this notices closed tabs


@router.get("/events", include_in_schema=False)
async def events(request: Request, web: WebDep, caller: WebCaller) -> StreamingResponse:
    team_id = caller.team_id
    queue = web.rt.timeline.subscribe(team_id)

    async def stream() -> AsyncIterator[str]:
        try:
            # Tells EventSource to wait 3 s before reconnecting after a dropped connection.
            yield "retry: 3000\n: connected\n\n"
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                kind = str(event.get("type", "message"))
                yield f"event: {kind}\ndata: {json.dumps(event, default=str)}\n\n"
        finally:
            web.rt.timeline.unsubscribe(team_id, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

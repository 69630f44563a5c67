"""`X-Frame-Options: DENY` on every response (pages, API, static files, errors, refusals), beside
the pages' CSP `frame-ancestors 'none'` (web/render.py): browsers that predate CSP level 2 honour
only the header, so no page of ours can be framed by another site (clickjacking). The email frame
is an `<iframe srcdoc>`, not a response of its own, so it is not affected."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = (b"x-frame-options", b"DENY")


class FrameOptions:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != HEADER[0]]
                message = {**message, "headers": [*headers, HEADER]}
            await send(message)

        await self.app(scope, receive, with_header)

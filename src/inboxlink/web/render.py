"""Jinja2 environment, the context every page gets (user, CSRF token, disconnected-inbox banner) and
the security headers of every HTML response."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from inboxlink.domain.providers import OAUTH_PROVIDERS
from inboxlink.domain.quoted import split_quoted
from inboxlink.services.accounts import health, inboxes
from inboxlink.services.accounts.health import REASON_TEXT
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import unread
from inboxlink.services.platform.runtime import Runtime
from inboxlink.web import format as fmt
from inboxlink.web.security import SESSION_COOKIE, Signer, csrf_nonce, set_cookies

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

# The page's own script and style come from /static; inline styles are allowed because sanitized
# email HTML keeps `style` attributes and an iframe srcdoc inherits this policy. Remote images
# (https:) only ever load inside an email after the user asked for them.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _asset_version() -> str:
    """One hash over every static file (a list of names missed templates.js when it was added), so
    a browser never keeps an old script beside a new page."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=fmt.when,
        ago=fmt.ago,
        size=fmt.file_size,
        person=fmt.person,
        people=fmt.people,
        initials=fmt.initials,
    )
    env.globals.update(
        asset_version=_asset_version(),
        email_status=fmt.email_status,
        srcdoc=fmt.srcdoc,
        frame_height=fmt.frame_height,
        has_remote_images=fmt.has_remote_images,
        reply_target=fmt.reply_target,
        reply_all_target=fmt.reply_all_target,
        split_quoted=split_quoted,
        reason_text=reason_text,
        provider_label=lambda key: OAUTH_PROVIDERS[key].label if key in OAUTH_PROVIDERS else "",
    )
    return env


def reason_text(reason: str | None) -> str:
    if not reason:
        return "unknown reason"
    text = REASON_TEXT.get(reason, reason.replace("_", " "))
    return text[:1].upper() + text[1:]


async def disconnected_inboxes(rt: Runtime, caller: Caller) -> list[dict[str, object]]:
    """The caller's own disconnected inboxes: what the banner on every page is about."""
    return [
        i
        for i in await inboxes.list_inboxes(rt, caller)
        if i["user_id"] == caller.user_id and i["status"] == "disconnected"
    ]


async def nav_counts(rt: Runtime, caller: Caller) -> dict[str, int]:
    """The navigation's badges: unread replies and open notifications (issue 14)."""
    return {
        "unread_replies": await unread.unread_count(rt, caller),
        "open_notifications": len(await health.list_notifications(rt, caller)),
    }


class Pages:
    """Renders templates with the shared context; one instance per app (in app.state)."""

    def __init__(self, rt: Runtime, signer: Signer) -> None:
        self.rt = rt
        self.signer = signer
        self.env = make_environment()

    def csrf(self, request: Request) -> str:
        return self.signer.csrf_token(csrf_nonce(request), request.cookies.get(SESSION_COOKIE))

    async def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        caller: Caller | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        full = {
            "request": request,
            "caller": caller,
            "csrf_token": self.csrf(request),
            "banner": await disconnected_inboxes(self.rt, caller) if caller else [],
            **(await nav_counts(self.rt, caller) if caller else {}),
            "now": datetime.now(UTC),
            **context,
        }
        html = self.env.get_template(template).render(full)
        response = HTMLResponse(html, status_code=status)
        self.secure(request, response)
        return response

    def fragment(self, request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
        # csrf_token: a fragment may hold a form (a scheduled email's "Cancel sending").
        html = self.env.get_template(template).render(
            {"request": request, "csrf_token": self.csrf(request), **context}
        )
        response = HTMLResponse(html)
        self.secure(request, response)
        return response

    def secure(self, request: Request, response: HTMLResponse) -> None:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        set_cookies(request, response)

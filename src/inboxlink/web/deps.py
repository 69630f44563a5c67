"""What web routes depend on: the shared web state, the signed-in caller (or a trip to the sign-in
page), and forms whose CSRF token has been checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from starlette.datastructures import FormData

from inboxlink.services.accounts.users import Caller, caller_for_user_id
from inboxlink.services.platform.runtime import Runtime
from inboxlink.web.render import Pages
from inboxlink.web.security import CSRF_COOKIE, SESSION_COOKIE, Signer, SignInThrottle

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass
class WebState:
    rt: Runtime
    signer: Signer
    pages: Pages
    throttle: SignInThrottle


class LoginRequired(Exception):
    """No valid session: pages redirect to the sign-in page, fetch() calls get a 401."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageNotFound(Exception):
    pass


class CsrfFailed(Exception):
    pass


def get_web(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


WebDep = Annotated[WebState, Depends(get_web)]


def is_fetch(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


async def optional_caller(request: Request, web: WebDep) -> Caller | None:
    session = web.signer.session_user(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    caller = await caller_for_user_id(web.rt, session[0])
    # A session from before the user last signed out is over.
    return caller if caller is not None and caller.session_epoch == session[1] else None


async def web_caller(request: Request, web: WebDep) -> Caller:
    caller = await optional_caller(request, web)
    if caller is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(path, safe="/"))
    return caller


WebCaller = Annotated[Caller, Depends(web_caller)]


async def checked_form(request: Request, web: WebDep) -> FormData:
    """The posted form, once its CSRF token (field or header) matches the visitor's cookie."""
    form = await request.form()
    token = form.get(CSRF_FIELD)
    token = token if isinstance(token, str) else request.headers.get(CSRF_HEADER)
    if not web.signer.csrf_ok(request.cookies.get(CSRF_COOKIE), token, request.cookies.get(SESSION_COOKIE)):
        raise CsrfFailed()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_int(value: str) -> int | None:
    """A number typed into a form: ASCII digits only ("²".isdigit() is true, int("²") raises).
    Its range is the service's to check (ids must fit the database's 64 bits)."""
    return int(value) if value.isascii() and value.isdigit() else None


def safe_next(value: str | None, default: str = "/contacts") -> str:
    """Only a local path: never send a user to another site after a form (sign-in, unenrol...).
    A backslash and control characters are refused too: browsers read a backslash as a slash
    (`/` + backslash + `evil.com` is `//evil.com`) and drop tabs and line breaks from a URL."""
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        return value
    return default

"""Sign in and sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from inboxlink.services.accounts.users import check_password, end_web_sessions
from inboxlink.web.deps import CheckedForm, WebDep, optional_caller, safe_next, text
from inboxlink.web.security import DEVICE_COOKIE, end_session, remember_device, start_session

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(request: Request, web: WebDep) -> Response:
    caller = await optional_caller(request, web)
    return RedirectResponse("/contacts" if caller else "/login", status_code=303)


@router.get("/login", include_in_schema=False)
async def login_page(request: Request, web: WebDep, next: str | None = None) -> Response:
    if await optional_caller(request, web):
        return RedirectResponse(safe_next(next), status_code=303)
    return await web.pages.render(request, "login.html", {"next": safe_next(next), "email": ""})


@router.post("/login", include_in_schema=False)
async def login(request: Request, web: WebDep, form: CheckedForm) -> Response:
    email, password = text(form, "email"), form.get("password")
    next_path = safe_next(text(form, "next"))
    ip = request.client.host if request.client else "?"

    async def again(message: str, status: int) -> Response:
        return await web.pages.render(
            request, "login.html", {"next": next_path, "email": email, "error": message}, status=status
        )

    if not email or not isinstance(password, str) or not password:
        return await again("Enter your email address and your password.", 422)
    if len(email) > 320 or len(password) > 1024:
        return await again("That email address and password don’t match. Check them and try again.", 401)
    # A browser that signed in as this address before is counted apart from everyone else.
    device = web.signer.device_nonce(request.cookies.get(DEVICE_COOKIE), email)
    wait = web.throttle.wait_minutes(email, ip, device)
    if wait:
        unit = "minute" if wait == 1 else "minutes"
        return await again(f"Too many attempts. For your security, try again in {wait} {unit}.", 429)
    web.throttle.attempt(email, ip, device)
    caller = await check_password(web.rt, email, password)
    if caller is None:
        return await again("That email address and password don’t match. Check them and try again.", 401)
    web.throttle.succeeded(email, ip, device)
    response = RedirectResponse(next_path, status_code=303)
    start_session(request, response, web.signer, caller.user_id, caller.session_epoch)
    remember_device(request, response, web.signer, email)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(_: CheckedForm, request: Request, web: WebDep) -> Response:
    caller = await optional_caller(request, web)
    if caller is not None:
        await end_web_sessions(web.rt, caller)
    response = RedirectResponse("/login", status_code=303)
    end_session(response)
    return response

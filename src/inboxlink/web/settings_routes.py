"""Settings: connecting an inbox (provider presets, POP3 explained, errors at their field), the health
of the user's inboxes with a reconnect form, and the BCC logging address."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from inboxlink.domain.providers import AUTH_TEXT, PRESETS
from inboxlink.services.accounts import inboxes, oauth, users
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import signatures
from inboxlink.services.validation import DbInt, normalise_address
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, WebState, form_int, text
from inboxlink.web.render import disconnected_inboxes

router = APIRouter()


# The presets (every common provider, with whether it takes OAuth or an app password) are data in
# domain.providers, shared with the OAuth flow and docs/oauth.md.

FIELDS = ("email", "username", "password", "protocol", "preset", "imap_host", "imap_port", "imap_security",
          "smtp_host", "smtp_port", "smtp_security")  # fmt: skip

# The connect attempt's outcome in a salesperson's words; the server's own words follow as detail.
HEADLINES = {
    "auth_failed": "Your email provider didn’t accept this user name and password.",
    "smtp_auth_failed": "The outgoing mail server (SMTP) didn’t accept this user name and password.",
    "connection_failed": "We couldn’t reach this mail server. Check the server name and the port.",
    "tls_failed": "We couldn’t open a secure connection to this server.",
    "imap_capability_missing": "This server doesn’t offer IMAP, which inboxlink needs.",
    "not_an_imap_server": "What answers at this address and port isn’t an IMAP mail server.",
    "not_an_smtp_server": "What answers at this address and port isn’t an SMTP (outgoing mail) server.",
    "private_address_refused": "This server is on a private network, which this installation doesn’t connect to.",
    "address_not_verified": "This login doesn’t seem to receive mail for that address.",
    "too_many_attempts": "Too many connection attempts for now.",
}


# The error summary's links: the field each error belongs to, by its label.
LABELS = {
    "form": "Connect an inbox", "protocol": "How does your mail app receive mail?", "email": "Email address",
    "username": "User name", "password": "Password or app password", "imap_host": "Incoming mail server",
    "imap_port": "Incoming mail port", "imap_security": "Incoming mail security", "smtp_host": "Outgoing mail server",
    "smtp_port": "Outgoing mail port", "smtp_security": "Outgoing mail security",
}  # fmt: skip


def summary(errors: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """The errors in form order, each with the id of its field (the summary links there)."""
    order = ["form", *FIELDS]
    return [
        {"href": "#connect" if key == "form" else f"#{key}", "label": LABELS.get(key, key), **errors[key]}
        for key in sorted(errors, key=lambda k: order.index(k) if k in order else len(order))
    ]


def friendly(exc: ServiceError) -> dict[str, str]:
    headline = HEADLINES.get(exc.code)
    return (
        {"message": headline, "detail": exc.message} if headline else {"message": exc.message, "detail": ""}
    )


def form_field(service_field: str | None) -> str:
    """ServiceError.field ("imap.host", "smtp.port", "password", …) → the form's input name."""
    name = (service_field or "form").replace(".", "_")
    return name if name in FIELDS else "form"


def _port(raw: str, field: str, errors: dict[str, dict[str, str]]) -> int:
    port = form_int(raw[:6])
    if port is not None and 0 < port < 65536:
        return port
    errors[field] = {
        "message": "Enter a port number, such as 993 for IMAP or 465/587 for SMTP.",
        "detail": "",
    }
    return 0


async def _page(
    request: Request,
    web: WebState,
    caller: Caller,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    reconnect_errors: dict[int, dict[str, str]] | None = None,
    status: int = 200,
    signature_form: str | None = None,
    signature_error: str | None = None,
) -> Response:
    everyone = await inboxes.list_inboxes(web.rt, caller)
    # The signature card (issue 14 item 6): what was typed again after an error, else the saved one.
    signature = (
        signature_form if signature_form is not None else await signatures.get_signature(web.rt, caller)
    )
    return await web.pages.render(
        request,
        "settings.html",
        {
            "own": [i for i in everyone if i["user_id"] == caller.user_id],
            "team": [i for i in everyone if i["user_id"] != caller.user_id],
            "bcc_address": users.bcc_address(web.rt, caller),
            "presets": PRESETS,
            "auth_text": AUTH_TEXT,
            "oauth_providers": oauth.configured(web.rt),
            "oauth_outcome": await oauth.outcome_for(web.rt, caller, request.query_params.get("oauth")),
            "pop3_message": inboxes.POP3_MESSAGE,
            "form": form or {"protocol": "imap", "preset": "other", "imap_port": "993",
                             "imap_security": "tls", "smtp_port": "587", "smtp_security": "starttls"},
            "errors": errors or {},
            "error_summary": summary(errors or {})
            + [
                {"href": f"#reconnect-password-{i}", "label": "Reconnect", **e}
                for i, e in (reconnect_errors or {}).items()
            ],
            "summary_title": "The inbox wasn’t reconnected" if reconnect_errors else "The inbox wasn’t connected",
            "reconnect_errors": reconnect_errors or {},
            "connected": request.query_params.get("connected"),
            "removed": request.query_params.get("removed") == "1",
            "signature": signature,
            "signature_error": signature_error,
            "signature_saved": request.query_params.get("signature") == "saved",
        },
        caller=caller,
        status=422 if signature_error else status,
    )  # fmt: skip


page = _page  # for writing_routes (the signature form's error page)


@router.get("/settings", include_in_schema=False)
async def settings(request: Request, web: WebDep, caller: WebCaller) -> Response:
    return await _page(request, web, caller)


@router.post("/settings/inboxes", include_in_schema=False)
async def connect(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    values = {k: text(form, k) for k in FIELDS if k != "password"}
    password = form.get("password")
    errors: dict[str, dict[str, str]] = {}
    body: dict[str, Any] = {
        "email": values["email"],
        "protocol": values["protocol"] or "imap",
        "username": values["username"] or values["email"],
        "password": password if isinstance(password, str) else "",
        "imap": {
            "host": values["imap_host"],
            "port": _port(values["imap_port"], "imap_port", errors),
            "security": values["imap_security"] or "tls",
        },
        "smtp": {
            "host": values["smtp_host"],
            "port": _port(values["smtp_port"], "smtp_port", errors),
            "security": values["smtp_security"] or "tls",
        },
    }
    status = 422
    try:
        normalise_address(values["email"], field="email")
    except ServiceError:
        errors["email"] = {
            "message": "Enter the mailbox’s email address, like sam@example.com."
            if not values["email"]
            else f"“{values['email'][:80]}” isn’t an email address: enter it like sam@example.com.",
            "detail": "",
        }
    if not body["password"] and body["protocol"] == "imap":
        errors["password"] = {"message": "Enter the mailbox password (or app password).", "detail": ""}
    if not errors:
        try:
            inbox = await inboxes.connect_inbox(web.rt, caller, body)
        except ServiceError as exc:
            errors[form_field(exc.field)] = friendly(exc)
            status = exc.status  # 429 when the connect attempts ran out
        else:
            return RedirectResponse(f"/settings?connected={inbox['id']}#inbox-{inbox['id']}", status_code=303)
    return await _page(request, web, caller, form=values, errors=errors, status=status)


@router.post("/settings/inboxes/{inbox_id}/password", include_in_schema=False)
async def reconnect(
    request: Request, web: WebDep, caller: WebCaller, inbox_id: DbInt, form: CheckedForm
) -> Response:
    password = form.get("password")
    try:
        if not isinstance(password, str) or not password:
            raise ServiceError("invalid_field", "Enter the mailbox’s current password.", field="password")
        await inboxes.update_credentials(web.rt, caller, inbox_id, {"password": password})
    except NotFound as exc:
        raise PageNotFound() from exc
    except ServiceError as exc:
        return await _page(
            request, web, caller, reconnect_errors={inbox_id: friendly(exc)}, status=exc.status
        )
    return RedirectResponse(f"/settings?connected={inbox_id}#inbox-{inbox_id}", status_code=303)


@router.get("/settings/inboxes/{inbox_id}/remove", include_in_schema=False)
async def confirm_remove(request: Request, web: WebDep, caller: WebCaller, inbox_id: DbInt) -> Response:
    """The confirmation step: what removing means, and a form (no JavaScript needed) to do it."""
    own = [
        i
        for i in await inboxes.list_inboxes(web.rt, caller)
        if i["id"] == inbox_id and i["user_id"] == caller.user_id
    ]
    if not own:
        raise PageNotFound()  # unknown, already removed, or a teammate's
    return await web.pages.render(request, "inbox_remove.html", {"inbox": own[0]}, caller=caller)


@router.post("/settings/inboxes/{inbox_id}/remove", include_in_schema=False)
async def remove(web: WebDep, caller: WebCaller, inbox_id: DbInt, _: CheckedForm) -> Response:
    try:
        await inboxes.delete_inbox(web.rt, caller, inbox_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    return RedirectResponse("/settings?removed=1", status_code=303)


@router.post("/settings/bcc/rotate", include_in_schema=False)
async def rotate_bcc(web: WebDep, caller: WebCaller, _: CheckedForm) -> Response:
    await users.rotate_bcc_token(web.rt, caller)
    return RedirectResponse("/settings#bcc", status_code=303)


@router.get("/settings/inboxes", include_in_schema=False)
async def inbox_list(request: Request, web: WebDep, caller: WebCaller) -> Response:
    """The inbox list alone, re-fetched by app.js when an inbox changes state."""
    everyone = await inboxes.list_inboxes(web.rt, caller)
    return web.pages.fragment(
        request,
        "_inboxes.html",
        {
            "own": [i for i in everyone if i["user_id"] == caller.user_id],
            "team": [i for i in everyone if i["user_id"] != caller.user_id],
            "reconnect_errors": {},
            "connected": None,
            "csrf_token": web.pages.csrf(request),
            "oauth_providers": oauth.configured(web.rt),
        },
    )


@router.get("/banner", include_in_schema=False)
async def banner(request: Request, web: WebDep, caller: WebCaller) -> Response:
    return web.pages.fragment(request, "_banner.html", {"banner": await disconnected_inboxes(web.rt, caller)})

"""Sending from a contact's record: the composer's form (multipart, files → base64) and the status
of a sent email (queued → sent / failed) that app.js follows."""

from __future__ import annotations

import base64
from email.utils import getaddresses
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from inboxlink.domain.recipients import split_recipients
from inboxlink.mime.composed import composed_html, text_alternative
from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm import records
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import compose, drafts
from inboxlink.services.validation import DbInt, normalise_address
from inboxlink.web import contact_page
from inboxlink.web import format as fmt
from inboxlink.web.contact_routes import _contact
from inboxlink.web.deps import (
    CheckedForm,
    PageNotFound,
    WebCaller,
    WebDep,
    WebState,
    form_int,
    is_fetch,
    text,
)

router = APIRouter()

# Where a ServiceError.field lands in the composer.
FIELD_OF = {
    "to": "to",
    "cc": "cc",
    "subject": "subject",
    "text": "text",
    "attachments": "attachments",
    "in_reply_to_email_id": "form",
    "forward_of_email_id": "form",
    "send_at": "send_at",
}
# Things removed while the composer was open, in the composer's words.
GONE = {
    "email_not_found": "The email you are replying to or forwarding no longer exists. Write a new email instead.",
    "inbox_not_found": "This inbox was removed. Pick another one under From, or reload the page.",
}


class ComposeError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


LABEL = {"to": "To", "cc": "Cc"}


def _recipients(raw: str, field: str) -> list[dict[str, str]]:
    """'Ann <a@x.test>, b@y.test' → [{email, name}]; an entry that is not an address is named."""
    found = []
    for entry in split_recipients(raw):
        parsed = getaddresses([entry])
        name, email = parsed[0] if len(parsed) == 1 else ("", "")
        try:
            email = normalise_address(email, field=field)
        except ServiceError:
            raise ComposeError(
                field,
                f"“{entry[:80]}” in {LABEL.get(field, field)} isn’t an email address. "
                "Separate addresses with commas, like ann@example.com, bob@example.com.",
            ) from None
        found.append({"email": email, "name": name})
    return found


async def _files(form: FormData, limit: int) -> list[dict[str, str]]:
    files, total = [], 0
    for item in form.getlist("attachments"):
        if not isinstance(item, UploadFile) or not item.filename:
            continue  # an empty file input posts one nameless part
        data = await item.read(limit + 1)
        total += len(data)
        if total > limit:
            raise ComposeError(
                "attachments",
                f"The attachments are larger than {limit // (1024 * 1024)} MB. Send large files as a link.",
            )
        files.append(
            {
                "filename": item.filename,
                "content_type": item.content_type or "application/octet-stream",
                "content_base64": base64.b64encode(data).decode(),
            }
        )
    return files


def status_view(email: dict[str, Any]) -> dict[str, object]:
    return {"id": email["id"], "status": email["status"], **fmt.email_status(email)}


@router.post("/contacts/{contact_id}/send", include_in_schema=False)
async def send(
    request: Request, web: WebDep, caller: WebCaller, contact_id: DbInt, form: CheckedForm
) -> Response:
    contact = await _contact(web, caller, contact_id)
    keys = ("to", "cc", "subject", "in_reply_to_email_id", "forward_of_email_id", "draft_context")
    values = {k: text(form, k) for k in keys}
    values["text"] = str(form.get("text") or "")
    # The rich-text editor's HTML (issue 14 item 6): cleaned here, and the text part derived from
    # the cleaned HTML — a client's text could say something the HTML does not.
    html = composed_html(str(form.get("html") or ""))
    values["html"] = html
    if html:
        values["text"] = text_alternative(html)
    values["forward_attachments"] = "1" if text(form, "forward_attachments") else ""
    inbox_id = text(form, "inbox_id")
    try:
        body = {
            "inbox_id": form_int(inbox_id),
            "to": _recipients(values["to"], "to"),
            "cc": _recipients(values["cc"], "cc"),
            "subject": values["subject"],
            "text": values["text"],
            "html": html or None,
            "attachments": await _files(form, web.rt.settings.max_send_bytes),
            "contact_id": contact_id,
            # A reply (the timeline's Reply action): threaded under that email, In-Reply-To set.
            "in_reply_to_email_id": form_int(values["in_reply_to_email_id"]),
            # A forward: a new conversation carrying the original (and, if ticked, its attachments).
            "forward_of_email_id": form_int(values["forward_of_email_id"]),
            "forward_attachments": bool(values["forward_attachments"]),
            # "Send later" (templates.js fills it from the date-time picker, with the zone).
            "send_at": text(form, "send_at") or None,
        }
        if not body["to"]:
            raise ComposeError("to", "Add at least one recipient.")
        email = await compose.send_email(web.rt, caller, body)
    except (ComposeError, ServiceError) as exc:
        raw_field = exc.field or ("form" if isinstance(exc, NotFound) else "text")
        field = FIELD_OF.get(raw_field.split("[")[0].split(".")[0], "form")
        message = GONE.get(exc.code, exc.message) if isinstance(exc, NotFound) else exc.message
        if is_fetch(request):
            return JSONResponse({"error": {"field": field, "message": message}}, status_code=422)
        return await _compose_again(request, web, caller, contact, values, {field: message})
    if values["draft_context"]:
        try:
            await drafts.delete_draft(web.rt, caller, contact_id, values["draft_context"])  # sent: gone
        except ServiceError:
            pass  # a context that was edited names no draft
    if is_fetch(request):
        return JSONResponse({"email": status_view(email)}, status_code=202)
    return RedirectResponse(f"/contacts/{contact_id}?sent={email['id']}#composer", status_code=303)


async def _compose_again(
    request: Request,
    web: WebState,
    caller: Caller,
    contact: dict[str, Any],
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    """Without JavaScript: the record again (all of it), with what was typed and the error at its field."""
    composer = await contact_page.composer_state(
        web,
        caller,
        contact,
        reply=form_int(values.get("in_reply_to_email_id", "")),
        forward=form_int(values.get("forward_of_email_id", "")),
    )
    if composer["replying"] is None:
        values["in_reply_to_email_id"] = ""
    if composer["forwarding"] is None:
        values["forward_of_email_id"] = ""
    composer["compose"] = {**composer["compose"], **values}
    composer["forward_files_checked"] = bool(values.get("forward_attachments"))
    context = await contact_page.record_page(request, web, caller, contact, composer, compose_errors=errors)
    return await web.pages.render(request, "contact.html", context, caller=caller, status=422)


@router.get("/emails/{email_id}/status", include_in_schema=False)
async def email_status(web: WebDep, caller: WebCaller, email_id: DbInt) -> Response:
    try:
        email = await records.get_email(web.rt, caller, email_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    return JSONResponse(status_view(email), headers={"Cache-Control": "no-store"})

"""Sequences in the web UI: /sequences (the team's sequences, a form for a new one), /sequences/{id}
(its steps and who is enrolled, with each enrolment's status), and on a contact's record the
"Enroll in sequence" form and the contact's enrolments with their history (`contact_context`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from inboxlink.services.accounts import inboxes
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import sequence_enrolments, sequences, templates
from inboxlink.services.platform.runtime import Runtime
from inboxlink.services.validation import DbInt
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, form_int, safe_next, text

router = APIRouter()

FORM_STEPS = 3  # step rows on the "new sequence" form; an empty row is left out
REASONS = {
    "replied": "Replied",
    "company_replied": "Someone at their company replied",
    "auto_replied": "Automatic reply",
    "bounced": "Bounced",
    "failed": "A send failed",
    "unenrolled": "Unenrolled by hand",
    "completed": "All steps sent",
    "render_failed": "A step could not be written",
    "inbox_removed": "The inbox was removed",
    "merged": "Contacts merged: the kept contact's enrolment goes on",
}
ENROL_ERRORS = {
    "already_enrolled": "This contact is already enrolled in that sequence.",
    "inbox_disconnected": "That inbox is disconnected; reconnect it in Settings first.",
    "field_required": "Choose a sequence and an inbox.",
}


def _steps_from(form: FormData) -> list[dict[str, Any]]:
    steps = []
    for n in range(FORM_STEPS):
        subject, body = text(form, f"subject_{n}"), text(form, f"text_{n}")
        template_id = form_int(text(form, f"template_{n}"))
        if not subject and not body and template_id is None:
            continue
        delay = form_int(text(form, f"delay_{n}") or "0")
        steps.append(
            {"template_id": template_id, "subject": subject, "text": body,
             "delay_days": -1 if delay is None else delay, "same_thread": form.get(f"same_thread_{n}") == "on"}
        )  # fmt: skip
    return steps


async def _list_page(
    request: Request, web: WebDep, caller: Caller, *, error: str | None = None, status: int = 200
) -> Response:
    context = {
        "sequences": await sequences.list_sequences(web.rt, caller),
        "templates": await templates.list_templates(web.rt, caller),
        "error": error,
        "steps": FORM_STEPS,
    }
    return await web.pages.render(request, "sequences.html", context, caller=caller, status=status)


@router.get("/sequences", include_in_schema=False)
async def sequence_list(request: Request, web: WebDep, caller: WebCaller) -> Response:
    return await _list_page(request, web, caller)


@router.post("/sequences", include_in_schema=False)
async def create(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    body = {
        "name": text(form, "name"),
        "time_zone": text(form, "time_zone") or "UTC",
        "window_start": text(form, "window_start") or "09:00",
        "window_end": text(form, "window_end") or "17:00",
        "stop_on_company_reply": form.get("stop_on_company_reply") == "on",
        "stop_on_auto_reply": form.get("stop_on_auto_reply") == "on",
        "steps": _steps_from(form),
    }
    try:
        made = await sequences.create_sequence(web.rt, caller, body)
    except ServiceError as exc:
        return await _list_page(request, web, caller, error=exc.message, status=422)
    return RedirectResponse(f"/sequences/{made['id']}", status_code=303)


@router.get("/sequences/{sequence_id}", include_in_schema=False)
async def sequence_page(request: Request, web: WebDep, caller: WebCaller, sequence_id: DbInt) -> Response:
    try:
        sequence = await sequences.get_sequence(web.rt, caller, sequence_id)
        enrolled = await sequence_enrolments.list_enrolments(web.rt, caller, sequence_id=sequence_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    names = {t["id"]: t["name"] for t in await templates.list_templates(web.rt, caller)}
    context = {"sequence": sequence, "enrolments": enrolled, "reasons": REASONS, "template_names": names}
    return await web.pages.render(request, "sequence.html", context, caller=caller)


async def contact_context(rt: Runtime, caller: Caller, contact_id: int) -> dict[str, Any]:
    """For the contact's record: its enrolments (newest first), the team's sequences to enrol in,
    and the caller's connected inboxes to send from."""
    own = [i for i in await inboxes.list_inboxes(rt, caller) if i["user_id"] == caller.user_id]
    return {
        "enrolments": await sequence_enrolments.list_enrolments(rt, caller, contact_id=contact_id),
        "sequences": await sequences.list_sequences(rt, caller),
        "send_inboxes": [i for i in own if i["status"] == "connected"],
        "reasons": REASONS,
    }


def enrol_error(code: str | None) -> str | None:
    if not code:
        return None
    return ENROL_ERRORS.get(
        code, "The contact could not be enrolled; choose a sequence and one of your inboxes."
    )


@router.post("/contacts/{contact_id}/enrolments", include_in_schema=False)
async def enrol(web: WebDep, caller: WebCaller, contact_id: DbInt, form: CheckedForm) -> Response:
    sequence_id, inbox_id = form_int(text(form, "sequence_id")), form_int(text(form, "inbox_id"))
    problem = ""
    if sequence_id is None or inbox_id is None:
        problem = "field_required"
    else:
        try:
            await sequence_enrolments.enrol_contacts(web.rt, caller, sequence_id, inbox_id, [contact_id])
        except NotFound as exc:
            if exc.code == "contact_not_found":
                raise PageNotFound() from exc
            problem = exc.code
        except ServiceError as exc:
            problem = exc.code
    # A code, not a sentence: the page says it in its own words (nothing typed into a URL is shown).
    suffix = f"?enrol_error={problem}" if problem else ""
    return RedirectResponse(f"/contacts/{contact_id}{suffix}#sequences", status_code=303)


@router.post("/enrolments/{enrolment_id}/unenrol", include_in_schema=False)
async def unenrol(web: WebDep, caller: WebCaller, enrolment_id: DbInt, form: CheckedForm) -> Response:
    try:
        await sequence_enrolments.unenrol(web.rt, caller, enrolment_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    except ServiceError:
        pass  # it had ended already: the page shows how
    return RedirectResponse(safe_next(text(form, "back"), "/sequences"), status_code=303)

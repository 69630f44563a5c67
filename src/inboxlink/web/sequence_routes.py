"""Sequences in the web UI: /sequences (the team's sequences, a form for a new one), /sequences/{id}
(its steps and who is enrolled, with each enrolment's status), /sequences/{id}/edit (the same form,
filled in: change, add or remove steps; web/sequence_forms.py reads both), and on a contact's record the
"Enroll in sequence" form and the contact's enrolments with their history (`contact_context`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from inboxlink.services.accounts import inboxes
from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail import sequence_edit, sequence_enrolments, sequences, templates
from inboxlink.services.platform.runtime import Runtime
from inboxlink.services.validation import DbInt
from inboxlink.web.deps import CheckedForm, PageNotFound, WebCaller, WebDep, form_int, safe_next, text
from inboxlink.web.sequence_forms import (
    SequenceForm,
    blank_form,
    error_summary,
    form_errors,
    form_of,
    read_form,
    unknown_templates,
)

router = APIRouter()

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


async def _list_page(
    request: Request,
    web: WebDep,
    caller: Caller,
    *,
    form: SequenceForm | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    context = {
        "sequences": await sequences.list_sequences(web.rt, caller),
        "templates": await templates.list_templates(web.rt, caller),
        "form": form or blank_form(),
        "errors": errors or {},
        "error_summary": error_summary(errors or {}),
    }
    return await web.pages.render(
        request, "sequences.html", context, caller=caller, status=422 if errors else 200
    )


@router.get("/sequences", include_in_schema=False)
async def sequence_list(request: Request, web: WebDep, caller: WebCaller) -> Response:
    return await _list_page(request, web, caller)


async def _template_ids(rt: Runtime, caller: Caller) -> set[object]:
    return {t["id"] for t in await templates.list_templates(rt, caller)}


@router.post("/sequences", include_in_schema=False)
async def create(request: Request, web: WebDep, caller: WebCaller, form: CheckedForm) -> Response:
    posted = read_form(form)
    errors = unknown_templates(posted, await _template_ids(web.rt, caller))
    if not errors:
        try:
            made = await sequences.create_sequence(web.rt, caller, posted.body())
        except ServiceError as exc:
            errors = form_errors(exc, posted)
        else:
            return RedirectResponse(f"/sequences/{made['id']}", status_code=303)
    return await _list_page(request, web, caller, form=posted, errors=errors)


@router.get("/sequences/{sequence_id}", include_in_schema=False)
async def sequence_page(request: Request, web: WebDep, caller: WebCaller, sequence_id: DbInt) -> Response:
    try:
        sequence = await sequences.get_sequence(web.rt, caller, sequence_id)
        enrolled = await sequence_enrolments.list_enrolments(web.rt, caller, sequence_id=sequence_id)
    except NotFound as exc:
        raise PageNotFound() from exc
    names = {t["id"]: t["name"] for t in await templates.list_templates(web.rt, caller)}
    context = {
        "sequence": sequence,
        "enrolments": enrolled,
        "reasons": REASONS,
        "template_names": names,
        "saved": request.query_params.get("saved") == "1",
    }
    return await web.pages.render(request, "sequence.html", context, caller=caller)


async def _edit_page(
    request: Request,
    web: WebDep,
    caller: Caller,
    sequence: dict[str, Any],
    form: SequenceForm,
    errors: dict[str, str] | None = None,
) -> Response:
    enrolled = await sequence_enrolments.list_enrolments(web.rt, caller, sequence_id=int(sequence["id"]))
    # {step number: how many active enrolments wait for it}: what an edit moves (see sequence_edit).
    waiting = Counter(int(e["next_step"]) + 1 for e in enrolled if e["status"] == "active")  # type: ignore[call-overload]
    context = {
        "sequence": sequence,
        "waiting": sorted(waiting.items()),
        "templates": await templates.list_templates(web.rt, caller),
        "form": form,
        "errors": errors or {},
        "error_summary": error_summary(errors or {}),
    }
    return await web.pages.render(
        request, "sequence_edit.html", context, caller=caller, status=422 if errors else 200
    )


async def _sequence_or_404(rt: Runtime, caller: Caller, sequence_id: int) -> dict[str, Any]:
    try:
        return await sequences.get_sequence(rt, caller, sequence_id)
    except NotFound as exc:
        raise PageNotFound() from exc


@router.get("/sequences/{sequence_id}/edit", include_in_schema=False)
async def edit_page(request: Request, web: WebDep, caller: WebCaller, sequence_id: DbInt) -> Response:
    sequence = await _sequence_or_404(web.rt, caller, sequence_id)
    return await _edit_page(request, web, caller, sequence, form_of(sequence))


@router.post("/sequences/{sequence_id}/edit", include_in_schema=False)
async def save(
    request: Request, web: WebDep, caller: WebCaller, sequence_id: DbInt, form: CheckedForm
) -> Response:
    sequence = await _sequence_or_404(web.rt, caller, sequence_id)
    posted = read_form(form)
    errors = unknown_templates(posted, await _template_ids(web.rt, caller))
    if not errors:
        try:
            await sequence_edit.update_sequence(web.rt, caller, sequence_id, posted.body(), by_position=True)
        except NotFound as exc:
            if exc.code == "sequence_not_found":
                raise PageNotFound() from exc
            errors = form_errors(exc, posted)
        except ServiceError as exc:
            errors = form_errors(exc, posted)
        else:
            return RedirectResponse(f"/sequences/{sequence_id}?saved=1", status_code=303)
    return await _edit_page(request, web, caller, sequence, posted, errors)


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

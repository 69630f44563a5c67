"""What a sequence step says: its template rendered for the contact (the templates feature's
render function), or the step's own subject and text. The one seam between sequences and
templates, so that steps are rendered exactly like `POST /emails` with a `template_id`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inboxlink.services.accounts.users import Caller
from inboxlink.services.errors import ServiceError
from inboxlink.services.platform.runtime import Runtime

__all__ = ["StepContent", "check_template", "render_step"]


@dataclass(frozen=True)
class StepContent:
    subject: str
    text: str
    html: str | None = None


async def check_template(rt: Runtime, caller: Caller, template_id: int, field: str) -> None:
    """Refuse a template the caller's team does not have (before anything is saved)."""
    raise ServiceError(
        "templates_unavailable",
        "Templates are not available in this build; give the step a subject and text instead.",
        field=field,
    )


async def render_step(rt: Runtime, caller: Caller, step: Any, contact: Any) -> StepContent:
    """The step's content for `contact`; a ServiceError (e.g. `missing_token`) when it cannot be."""
    if step.template_id is not None:
        await check_template(rt, caller, step.template_id, "template_id")
    return StepContent(step.subject, step.text)

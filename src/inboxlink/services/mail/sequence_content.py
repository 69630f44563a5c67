"""What a sequence step says: its template rendered for the contact by the templates feature
(`template_render.render_for_contact`: the same tokens, sandbox and `missing_token` refusal as
`POST /emails` with a `template_id`), or the step's own subject and text. The one seam between
sequences and templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inboxlink.services.accounts.users import Caller
from inboxlink.services.mail.template_render import render_for_contact
from inboxlink.services.mail.templates import template_row
from inboxlink.services.platform.runtime import Runtime

__all__ = ["StepContent", "check_template", "render_step"]


@dataclass(frozen=True)
class StepContent:
    subject: str
    text: str
    html: str | None = None


async def check_template(rt: Runtime, caller: Caller, template_id: int, field: str) -> None:
    """404 `template_not_found` for a template the caller's team does not have (before anything is
    saved); `field` is kept for the day the templates' own refusals name a field."""
    del field
    async with rt.engine.connect() as conn:
        await template_row(conn, caller.team_id, template_id)


async def render_step(rt: Runtime, caller: Caller, step: Any, contact: Any, sender_email: str) -> StepContent:
    """The step's content for `contact`, sent from `sender_email`; a ServiceError (`missing_token`,
    `template_not_found` when the template was deleted meanwhile) when it cannot be written."""
    if step.template_id is None:
        return StepContent(step.subject, step.text)
    async with rt.engine.connect() as conn:
        rendered = await render_for_contact(
            rt, conn, step.template_id, contact.id, caller.user_id, sender_email=sender_email
        )
    return StepContent(rendered.subject, rendered.text, rendered.html)

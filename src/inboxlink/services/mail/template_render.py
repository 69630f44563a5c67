"""Rendering a team's template for one recipient: the token values come from the contact, the
contact's company, the deal and the sender, and nothing else reaches the template
(domain.templates). A token without a value or a fallback is a `MissingToken` (422
`missing_token`), raised before anything is queued."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxlink.domain.models import Address
from inboxlink.domain.templates import (
    RenderTooLarge,
    TemplateRefused,
    Tokens,
    check_template,
    missing_tokens,
    render,
    split_name,
)
from inboxlink.mime.sanitize import sanitize_html
from inboxlink.services.errors import NotFound, ServiceError
from inboxlink.services.mail.templates import template_row
from inboxlink.services.platform.runtime import Runtime
from inboxlink.services.validation import db_int
from inboxlink.storage.crm_tables import companies, contact_companies, deals
from inboxlink.storage.tables import contacts, users

Values = dict[str, dict[str, str]]


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


class MissingToken(ServiceError):
    """A token the template needs has no value for this recipient and no fallback."""

    def __init__(self, tokens: list[str], recipient: str) -> None:
        first = tokens[0]
        others = f" (also missing: {', '.join(tokens[1:])})" if len(tokens) > 1 else ""
        super().__init__(
            "missing_token",
            f"The template uses {{{{ {first} }}}}, which has no value for {recipient}{others}. "
            f'Fill it in, or give the token a fallback: {{{{ {first} | default("…") }}}}.',
            field="template_id",
        )
        self.token = first
        self.tokens = tokens


async def _sender(conn: AsyncConnection, user_id: int) -> Any:
    row = (
        await conn.execute(select(users.c.team_id, users.c.name, users.c.email).where(users.c.id == user_id))
    ).first()
    if row is None:
        raise NotFound("user")
    return row


async def _company_name(conn: AsyncConnection, contact_id: int | None, fallback: str) -> str:
    if contact_id is None:
        return fallback
    name = await conn.scalar(
        select(companies.c.name)
        .select_from(contact_companies)
        .join(companies, companies.c.id == contact_companies.c.company_id)
        .where(contact_companies.c.contact_id == contact_id)
    )
    return str(name or fallback)


async def _deal_name(conn: AsyncConnection, team_id: int, deal_id: int | None) -> str:
    if deal_id is None:
        return ""
    ident = db_int(deal_id, field="deal_id")
    name = await conn.scalar(select(deals.c.name).where(deals.c.id == ident, deals.c.team_id == team_id))
    if name is None:
        raise NotFound("deal")
    return str(name)


def _contact_values(email: str, name: str) -> dict[str, str]:
    first, last = split_name(name.strip())
    return {"first_name": first, "last_name": last, "name": name.strip(), "email": email}


def render_parts(row: Any, values: Values, recipient: str) -> RenderedEmail:
    """Subject, text and html of the template `row` with `values`; MissingToken names what is missing."""
    parts = (row.subject, row.text, row.html or "")
    needed = Tokens(frozenset(), frozenset())
    for part in parts:
        tokens = check_template(part)
        needed = Tokens(needed.used | tokens.used, needed.required | tokens.required)
    missing = missing_tokens(needed, values)
    if missing:
        raise MissingToken(missing, recipient)
    try:
        subject = render(row.subject, values)
        text = render(row.text, values)
        html = render(row.html, values, html=True) if row.html else None
    except (TemplateRefused, RenderTooLarge) as exc:
        raise ServiceError("template_invalid", str(exc), field="template_id") from exc
    # Values come from contact records: a line break in one must not become a header line.
    return RenderedEmail(" ".join(subject.split()), text, html)


async def values_for_address(
    conn: AsyncConnection,
    team_id: int,
    recipient: Address,
    sender: Address,
    deal_id: int | None = None,
) -> Values:
    """Token values for an address of the team (its contact when there is one, else what was typed)."""
    contact = (
        await conn.execute(
            select(contacts.c.id, contacts.c.name, contacts.c.company).where(
                contacts.c.team_id == team_id, contacts.c.email == recipient.email
            )
        )
    ).first()
    name = (contact.name if contact is not None else "") or recipient.name
    company = await _company_name(conn, contact.id if contact else None, contact.company if contact else "")
    return {
        "contact": _contact_values(recipient.email, name),
        "company": {"name": company},
        "deal": {"name": await _deal_name(conn, team_id, deal_id)},
        "sender": {"name": sender.name, "email": sender.email},
    }


async def render_for_contact(
    rt: Runtime,
    conn: AsyncConnection,
    template_id: int,
    contact_id: int,
    sender_user_id: int,
    deal_id: int | None = None,
    *,
    sender_email: str | None = None,
) -> RenderedEmail:
    """The template rendered for one contact of the sender's team (404 for another team's template,
    contact or deal). `sender_email`: the inbox it goes out from (default: the user's address)."""
    user = await _sender(conn, sender_user_id)
    row = await template_row(conn, user.team_id, template_id)
    ident = db_int(contact_id, field="contact_id")
    contact = (
        await conn.execute(
            select(contacts.c.email, contacts.c.name).where(
                contacts.c.id == ident, contacts.c.team_id == user.team_id
            )
        )
    ).first()
    if contact is None:
        raise NotFound("contact")
    sender = Address(sender_email or user.email, user.name)
    values = await values_for_address(
        conn, user.team_id, Address(contact.email, contact.name), sender, deal_id
    )
    return render_parts(row, values, contact.email)


async def render_for_address(
    conn: AsyncConnection,
    team_id: int,
    template_id: object,
    recipient: Address,
    sender: Address,
    deal_id: int | None = None,
) -> RenderedEmail:
    """For `POST /emails` with a template: the first `to` recipient, a contact or not (yet)."""
    row = await template_row(conn, team_id, template_id)
    values = await values_for_address(conn, team_id, recipient, sender, deal_id)
    return render_parts(row, values, recipient.email)


async def template_for_send(
    rt: Runtime, team_id: int, body: dict[str, Any], recipient: Address, sender: Address
) -> RenderedEmail | None:
    """The template of a `POST /emails` body (`template_id`) rendered for its first recipient; None
    without one. Raised errors (404, missing_token) come before anything is stored or queued."""
    if body.get("template_id") is None:
        return None
    deal_id = db_int(body.get("deal_id"), field="deal_id")
    async with rt.engine.connect() as conn:
        return await render_for_address(conn, team_id, body["template_id"], recipient, sender, deal_id)


def chosen(body: dict[str, Any], part: str, rendered: RenderedEmail | None) -> Any:
    """A part the request gives overrides the template's."""
    if body.get(part) is not None or rendered is None:
        return body.get(part)
    return getattr(rendered, part)


async def preview(rt: Runtime, caller: Any, template_id: int, body: dict[str, Any]) -> dict[str, object]:
    """`POST /templates/{id}/preview`: the template as `contact_id` would get it. The HTML is
    sanitised like any HTML the CRM shows."""
    contact_id = db_int(body.get("contact_id"), field="contact_id", what="the id of a contact")
    if contact_id is None:
        raise ServiceError(
            "field_required", "contact_id is required: whom to preview it for.", field="contact_id"
        )
    deal_id = db_int(body.get("deal_id"), field="deal_id")
    async with rt.engine.connect() as conn:
        rendered = await render_for_contact(rt, conn, template_id, contact_id, caller.user_id, deal_id)
    return {
        "template_id": template_id,
        "contact_id": contact_id,
        "deal_id": deal_id,
        "subject": rendered.subject,
        "text": rendered.text,
        "html": sanitize_html(rendered.html) if rendered.html else None,
    }

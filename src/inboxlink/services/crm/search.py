"""The global search box: contacts, companies and deals by name, address or domain; emails by
subject. A handful of each, for answers while typing."""

from __future__ import annotations

from sqlalchemy import func, select

from inboxlink.services.accounts.users import Caller
from inboxlink.services.crm.companies import list_companies
from inboxlink.services.crm.contacts import list_contacts
from inboxlink.services.crm.deals import list_deals
from inboxlink.services.platform.runtime import Runtime, iso
from inboxlink.services.validation import has_surrogates
from inboxlink.storage.tables import email_contacts, emails

PER_KIND = 6


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(
    rt: Runtime, caller: Caller, query: str, per_kind: int = PER_KIND
) -> dict[str, list[dict[str, object]]]:
    q = query.strip()[:200]
    if len(q) < 2 or has_surrogates(q):
        return {"contacts": [], "companies": [], "deals": [], "emails": []}
    people, _ = await list_contacts(rt, caller, query=q, limit=per_kind)
    firms, _ = await list_companies(rt, caller, query=q, limit=per_kind)
    its_deals, _ = await list_deals(rt, caller, query=q, limit=per_kind)
    like = f"%{_like_escape(q.lower())}%"
    async with rt.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    emails.c.id,
                    emails.c.subject,
                    emails.c.from_email,
                    emails.c.thread_id,
                    emails.c.created_at,
                )
                .where(
                    emails.c.team_id == caller.team_id, func.lower(emails.c.subject).like(like, escape="\\")
                )
                .order_by(emails.c.created_at.desc(), emails.c.id.desc())
                .limit(per_kind)
            )
        ).all()
        links = await conn.execute(
            select(email_contacts.c.email_id, func.min(email_contacts.c.contact_id).label("contact_id"))
            .where(email_contacts.c.email_id.in_([r.id for r in rows]))
            .group_by(email_contacts.c.email_id)
        )
        first_contact = {link.email_id: link.contact_id for link in links}
    found = [
        {
            "id": r.id,
            "subject": r.subject,
            "from": r.from_email,
            "contact_id": first_contact.get(r.id),  # the record the web UI shows it on
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]
    return {"contacts": people, "companies": firms, "deals": its_deals, "emails": found}

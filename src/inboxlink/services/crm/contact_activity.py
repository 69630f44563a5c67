"""When a contact last had an email logged, and last replied (issue 14): for the contacts list's
"Last activity" column, its "replied" marker and sorting by either. Correlated subqueries over
email_contacts (indexed by contact), so a page of 25 contacts costs 25 index probes per column."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from inboxlink.services.errors import ServiceError
from inboxlink.storage.tables import contacts, email_contacts, emails

SORTS = ("name", "activity", "replied")


def last_activity() -> Any:
    return (
        select(func.max(emails.c.created_at))
        .select_from(email_contacts.join(emails, emails.c.id == email_contacts.c.email_id))
        .where(email_contacts.c.contact_id == contacts.c.id)
        .scalar_subquery()
        .label("last_activity_at")
    )


def last_reply() -> Any:
    return (
        select(func.max(emails.c.created_at))
        .select_from(email_contacts.join(emails, emails.c.id == email_contacts.c.email_id))
        .where(email_contacts.c.contact_id == contacts.c.id, emails.c.direction == "inbound")
        .scalar_subquery()
        .label("last_reply_at")
    )


def order_for(sort: str) -> list[Any]:
    """ORDER BY for a sort of the list: by name, or the most recent activity / reply first (never
    active last), the name breaking ties."""
    if sort not in SORTS:
        raise ServiceError("invalid_field", f"sort must be one of: {', '.join(SORTS)}.", field="sort")
    by_name = [func.lower(contacts.c.name), contacts.c.email]
    if sort == "name":
        return by_name
    stamp = last_activity() if sort == "activity" else last_reply()
    column = stamp.element  # the subquery without its label, usable in ORDER BY
    return [column.is_(None), column.desc(), *by_name]

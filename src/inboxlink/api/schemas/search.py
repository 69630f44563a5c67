"""Answers of the search route (issue 14 item 3)."""

from __future__ import annotations

from pydantic import Field

from inboxlink.api.schemas.crm import Company, Deal
from inboxlink.api.schemas.types import Timestamp, View
from inboxlink.api.schemas.views import Contact, ContactListItem


class EmailHit(View):
    id: int
    subject: str
    from_: str = Field(alias="from")
    contact_id: int | None = None
    created_at: Timestamp | None = None
    snippet: str


class SearchResults(View):
    contacts: list[ContactListItem | Contact]
    companies: list[Company]
    deals: list[Deal]
    emails: list[EmailHit]

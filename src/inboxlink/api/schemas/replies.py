"""Answers of the replies routes: the unread count and the Replies list (issue 14)."""

from __future__ import annotations

from pydantic import Field

from inboxlink.api.schemas.types import Body, Timestamp, View
from inboxlink.api.schemas.views import Person


class ReplyContact(View):
    id: int
    name: str
    email: str


class Reply(View):
    email_id: int
    thread_id: int
    subject: str
    snippet: str
    from_: Person = Field(alias="from")
    contact: ReplyContact | None = None
    created_at: Timestamp | None = None
    unread: bool


class ReplyList(View):
    items: list[Reply]
    total: int


class UnreadCount(View):
    unread: int


class ReadState(View):
    email_id: int
    unread: bool


class ReadStateUpdate(Body):
    unread: bool = False

"""Response objects, field for field what the services return (`email_views`, `inbox_view`,
`contact_view`, `users.me`, `notification_view`, the relink moves). Every view allows extra fields,
so what a service adds reaches the client before it is declared here."""

from __future__ import annotations

from pydantic import Field

from inboxlink.api.schemas.types import Timestamp, View


class Person(View):
    email: str
    name: str


class AttachmentView(View):
    id: int
    filename: str
    content_type: str
    size: int
    available: bool = Field(description="false when the bytes were over the size limit and not kept")


class ContactAttachment(AttachmentView):
    email_id: int


class EmailError(View):
    code: str
    message: str


class EmailView(View):
    id: int
    message_id: str | None
    thread_id: int
    inbox_id: int | None
    direction: str = Field(description="outbound | inbound")
    status: str = Field(description="queued | scheduled | cancelled | sent | failed | logged")
    error: EmailError | None
    from_: Person = Field(alias="from")
    to: list[Person]
    cc: list[Person]
    bcc: list[Person]
    subject: str
    text: str
    html: str | None = Field(description="sanitised")
    sent_at: Timestamp | None
    send_at: Timestamp | None = Field(None, description="when a scheduled email is to go out")
    created_at: Timestamp | None
    attachments: list[AttachmentView]
    contact_ids: list[int]
    sent_folder_copy: str | None
    source: str = Field(description="crm | imap | sent_folder | bcc")
    problems: list[str] = Field(description="what could not be decoded")
    truncated: bool = Field(
        description="not all of the message is shown; the original is attached when it fitted"
    )
    sender_verified: bool | None = Field(
        description="BCC-logged mail: DKIM or SPF proved the From domain sent it (false: unverified); null: not checked"
    )
    sender_verification: str | None = Field(description="why sender_verified is what it is")
    company_ids: list[int] = Field(default_factory=list, description="the companies it is logged on")
    deal_ids: list[int] = Field(default_factory=list, description="the deals it is logged on")


class Move(View):
    id: int
    user_id: int
    from_contact_ids: list[int]
    to_contact_ids: list[int]
    from_thread_id: int | None
    to_thread_id: int | None
    created_at: Timestamp | None


class RelinkedEmail(EmailView):
    moves: list[Move]


class Thread(View):
    id: int
    subject: str
    emails: list[EmailView] = Field(description="oldest first")


class ServerEndpoint(View):
    host: str
    port: int
    security: str


class Inbox(View):
    id: int
    email: str
    user_id: int
    status: str = Field(description="connected | disconnected")
    disconnect_reason: str | None
    disconnected_at: Timestamp | None
    last_error: str | None = Field(description="the server's own words")
    next_retry_at: Timestamp | None
    sent_folder: str | None
    last_sync_at: Timestamp | None
    imap: ServerEndpoint
    smtp: ServerEndpoint
    created_at: Timestamp | None
    auth: str = Field(description="password | oauth2")
    provider: str | None = Field(description="google | microsoft, for OAuth2 inboxes")


class Contact(View):
    id: int
    email: str
    name: str
    company: str = Field(description="the company's name (or the free text typed before companies existed)")
    company_id: int | None = Field(default=None, description="the company the contact belongs to")
    created_at: Timestamp | None


class Notification(View):
    id: int
    kind: str
    inbox_id: int | None
    message: str
    created_at: Timestamp | None
    resolved_at: Timestamp | None


class Me(View):
    id: int
    email: str
    name: str
    team_id: int
    is_admin: bool
    bcc_address: str


class Items(View):
    """A list answer; `items` is declared by each subclass."""


class InboxList(Items):
    items: list[Inbox]


class ContactList(Items):
    items: list[Contact]
    total: int


class EmailList(Items):
    items: list[EmailView] = Field(description="newest first")
    next_cursor: str | None = Field(
        None, description="pass as `before` for the next (older) page; null on the last"
    )


class ContactAttachmentList(Items):
    items: list[ContactAttachment]
    next_cursor: str | None = Field(
        None, description="pass as `before` for the next (older) page; null on the last"
    )


class MoveList(Items):
    items: list[Move]


class NotificationList(Items):
    items: list[Notification]


class AuthorizationUrl(View):
    authorization_url: str = Field(
        description="send the user's browser here; it comes back to /oauth/callback"
    )

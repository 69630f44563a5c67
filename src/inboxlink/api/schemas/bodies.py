"""Request bodies. Types and sizes are checked here; what needs the service's knowledge (is this an
address, a POP3 server, valid base64, a header-safe line) is checked by the service it goes to."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from inboxlink.api.schemas.types import (
    Address,
    Body,
    Filename,
    HeaderLine,
    HostName,
    Id,
    Name,
    Password,
    Text,
    ThreadRef,
    address_as_object,
)


class Endpoint(Body):
    host: Annotated[HostName, Field(examples=["imap.example.com"])]
    port: Annotated[int, Field(ge=1, le=65535, strict=True)]
    security: Literal["tls", "starttls", "none"] = "tls"


class InboxCreate(Body):
    email: Annotated[Address, Field(description="the mailbox's address")]
    protocol: Annotated[Name, Field(description="imap (pop3 is refused with an explanation)")] = "imap"
    username: Annotated[Address | None, Field(description="the login; the address when left out")] = None
    password: Password
    imap: Endpoint
    smtp: Endpoint


class Credentials(Body):
    password: Password
    username: Address | None = None


class ContactCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "chris@prospect.example", "name": "Chris", "company": "Prospect"}]
        }
    )

    email: Address
    name: Name | None = None
    company: Annotated[
        Name | None, Field(description="a company name; used when the address's domain names no company")
    ] = None
    company_id: Annotated[Id | None, Field(description="put the contact in this company")] = None


class Recipient(Body):
    email: Address
    name: Name | None = None


# A bare address string is taken as {"email": address}, as it always was.
RecipientList = list[Annotated[Recipient, BeforeValidator(address_as_object)]]


class AttachmentIn(Body):
    filename: Filename
    content_type: Annotated[
        Filename | None,
        Field(
            description="type/subtype; anything else, and multipart/* or message/*, goes out as application/octet-stream"
        ),
    ] = None
    content_base64: str


class EmailCreate(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "inbox_id": 1,
                    "to": [{"email": "chris@prospect.example", "name": "Chris"}],
                    "subject": "Our offer",
                    "text": "Hi Chris,\nplease find the offer attached.",
                    "attachments": [
                        {"filename": "offer.txt", "content_type": "text/plain", "content_base64": "b2ZmZXI="}
                    ],
                }
            ]
        }
    )

    inbox_id: Annotated[Id, Field(description="the caller's connected inbox to send through")]
    to: RecipientList
    cc: RecipientList | None = None
    bcc: RecipientList | None = None
    subject: HeaderLine | None = None
    text: Text | None = None
    html: Text | None = None
    attachments: list[AttachmentIn] | None = None
    contact_id: Id | None = None
    in_reply_to_email_id: Annotated[Id | None, Field(description="answer this logged email")] = None
    company_id: Annotated[Id | None, Field(description="sent from this company's record: logged on it")] = (
        None
    )
    deal_id: Annotated[Id | None, Field(description="sent from this deal's record: logged on it")] = None
    template_id: Annotated[
        Id | None,
        Field(description="render this template for the first `to` recipient; given parts override it"),
    ] = None
    send_at: Annotated[
        str | None,
        Field(description="ISO 8601 with a time zone, in the future: send then (status scheduled)"),
    ] = None


class Relink(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"contact_id": 1, "thread_id": "new"}]})

    contact_id: Id | None = None
    from_contact_id: Id | None = None
    thread_id: ThreadRef | None = None
    company_id: Annotated[Id | None, Field(description="also file it on this company")] = None
    deal_id: Annotated[Id | None, Field(description="also file it on this deal")] = None


class OAuthStart(Body):
    """Optional: reconnect this inbox with the new grant instead of connecting a new one."""

    inbox_id: Id | None = None

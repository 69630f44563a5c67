"""Frozen data shapes passed between the rooms. Message-IDs are stored *normalised*: no angle
brackets, no surrounding whitespace (see `message_ids.normalise`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Address:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything needed to render one RFC 5322 message we send."""

    message_id: str
    sender: Address
    to: tuple[Address, ...]
    subject: str
    text: str
    date: datetime
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeaderSummary:
    """The few header fields the cheap scan reads from every new message (nothing else is looked at)."""

    message_id: str | None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedMessage:
    """A full message decoded for logging. `html` is already sanitised. `problems` lists what could not
    be decoded (the message is still logged with what could)."""

    message_id: str | None
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())

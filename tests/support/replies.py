"""Building reply messages the way mail clients put them on the wire (stdlib email, compat output)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any


def make_reply(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    cc: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    message_id: str | None = None,
) -> tuple[str, bytes]:
    """Returns (message id without brackets, raw bytes)."""
    msg = EmailMessage()
    mid = message_id or make_msgid(idstring=secrets.token_hex(4), domain="client.example.test")
    msg["Message-ID"] = mid
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    msg.set_content(text)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mid.strip("<>"), msg.as_bytes()


def fixture(raw: bytes, tracked_id: str) -> bytes:
    return raw.replace(b"{TRACKED_ID}", tracked_id.encode())


def deliver_reply(
    mail_server: Any, mailbox: str, sender: str, parent_id: str, text: str, subject: str = "Re: Our offer"
) -> str:
    """A reply from `sender` to the tracked email `parent_id`, delivered into `mailbox` over LMTP;
    returns its Message-ID."""
    reply_id, raw = make_reply(sender=sender, to=mailbox, subject=subject, text=text, in_reply_to=parent_id)
    mail_server.deliver(mailbox, raw)
    return reply_id

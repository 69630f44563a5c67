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


def dsn_for(message_id: str, mailbox: str, recipient: str = "client@prospect.test") -> bytes:
    """A delivery status notification (RFC 3464) as Postfix writes one: `recipient` unknown, our
    email known only by its Message-ID in the returned headers."""
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n"
        b"To: " + mailbox.encode() + b"\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <dsn.42@mx.example.test>\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="RPT"\r\n\r\n'
        b"--RPT\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--RPT\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.test\r\n\r\n"
        b"Final-Recipient: rfc822; " + recipient.encode() + b"\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        b"--RPT\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <" + message_id.encode() + b">\r\n"
        b"Subject: Our offer\r\n\r\n--RPT--\r\n"
    )

"""Delivery status notifications (RFC 3464): is this message a bounce, and of which email?

A DSN is `multipart/report; report-type=delivery-status` with three parts: a human-readable text,
a `message/delivery-status` part (per-message fields, a blank line, then one block of fields per
recipient: `Final-Recipient`, `Action`, `Status`, `Diagnostic-Code`), and the original message or
its headers (`message/rfc822` / `text/rfc822-headers`). The original's Message-ID is what ties the
bounce to our tracked email: DSNs rarely carry In-Reply-To.

Also read (cheaply): the common non-standard bounces that send the original as a `message/rfc822`
part of a plain `multipart/mixed` from a mailer-daemon (old qmail, some Exchange relays); they have
no status, so they count as permanent when the subject says the delivery failed.

Only `Action: failed` is a bounce; `delayed` (4.x.x) is reported but is no failure, `delivered`,
`relayed` and `expanded` are successes. Pure: stdlib parsing of bytes, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser

from inboxlink.domain.message_ids import parse_id_list

__all__ = ["Bounce", "RecipientStatus", "looks_like_bounce", "read_bounce"]

_REPORT = re.compile(rb"multipart/report", re.IGNORECASE)
_DAEMON = re.compile(rb"\nfrom:[^\n]*(mailer-daemon|postmaster|mail delivery)", re.IGNORECASE)
_DAEMON_NAME = re.compile(r"mailer-daemon|postmaster|mail delivery", re.IGNORECASE)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_FAILED_SUBJECT = re.compile(
    r"undeliver|delivery (status notification \(failure\)|failure|has failed|failed)|returned mail|"
    r"failure notice|mail delivery (failed|subsystem)|unzustellbar|non remis|niedostarczon",
    re.IGNORECASE,
)
MAX_RECIPIENTS = 100  # a hostile report can list thousands of blocks


@dataclass(frozen=True)
class RecipientStatus:
    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded | "" (non-standard)
    status: str  # "5.1.1", or "" when none was given
    diagnostic: str = ""

    @property
    def permanent(self) -> bool:
        return self.action == "failed" and not self.status.startswith("4")


@dataclass(frozen=True)
class Bounce:
    original_message_id: str | None
    recipients: tuple[RecipientStatus, ...]
    standard: bool  # an RFC 3464 report (else a mailer-daemon message read by its subject)

    @property
    def failed(self) -> tuple[RecipientStatus, ...]:
        return tuple(r for r in self.recipients if r.action == "failed")

    @property
    def permanent(self) -> bool:
        """At least one recipient failed for good (Action: failed, Status 5.x.x or none)."""
        return any(r.permanent for r in self.recipients)

    @property
    def status(self) -> str:
        """The status code that best says why: the first permanent failure's, else the first."""
        for r in (*(r for r in self.recipients if r.permanent), *self.recipients):
            if r.status:
                return r.status
        return ""

    def reason(self) -> str:
        failed = self.failed or self.recipients
        if not failed:
            return "The message was returned as undeliverable."
        first = failed[0]
        text = f"Delivery to {first.recipient or 'the recipient'} failed"
        if first.status:
            text += f" ({first.status})"
        if first.diagnostic:
            text += f": {first.diagnostic[:300]}"
        return text + "."


def looks_like_bounce(header: bytes) -> bool:
    """From the match headers alone: worth fetching the body to read it as a bounce."""
    return bool(_REPORT.search(header)) or bool(_DAEMON.search(b"\n" + header))


def _field_blocks(payload: str) -> list[Message]:
    """The delivery-status body: groups of header fields separated by blank lines."""
    blocks = re.split(r"\r?\n[ \t]*\r?\n", payload.strip())
    return [HeaderParser().parsestr(block + "\n") for block in blocks if block.strip()]


def _address(value: str | None) -> str:
    # "rfc822; chris@prospect.example" → "chris@prospect.example"
    text = (value or "").partition(";")[2] or (value or "")
    return text.strip().strip("<>").lower()


def _recipients(status_part: Message) -> tuple[RecipientStatus, ...]:
    payload = status_part.get_payload()
    if isinstance(payload, list):  # the email package reads message/delivery-status as blocks
        blocks = [b for b in payload if isinstance(b, Message)]
    else:
        raw = payload if isinstance(payload, str) else ""
        blocks = _field_blocks(raw)
    found = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:  # the first block is per-message
        if not (block.get("Final-Recipient") or block.get("Original-Recipient")):
            continue
        status = _STATUS.search(str(block.get("Status", "")))
        found.append(
            RecipientStatus(
                recipient=_address(str(block.get("Final-Recipient") or block.get("Original-Recipient"))),
                action=str(block.get("Action", "")).strip().lower(),
                status=status.group(0) if status else "",
                diagnostic=" ".join(str(block.get("Diagnostic-Code", "")).split()),
            )
        )
        if len(found) == MAX_RECIPIENTS:
            break
    return tuple(found)


def _original_id(part: Message) -> str | None:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        message = inner[0] if isinstance(inner, list) and inner else None
        value = message.get("Message-ID") if isinstance(message, Message) else None
    else:  # text/rfc822-headers
        text = part.get_payload(decode=True)
        data = text if isinstance(text, bytes) else b""
        value = HeaderParser().parsestr(data.decode("utf-8", "replace")).get("Message-ID")
    ids = parse_id_list(str(value)) if value else ()
    return ids[0] if ids else None


def read_bounce(raw: bytes) -> Bounce | None:
    """The bounce `raw` reports, or None when it is no bounce (or a report of success)."""
    message = message_from_bytes(raw, policy=policy.compat32)
    standard = (
        message.get_content_type() == "multipart/report"
        and message.get_param("report-type", "").lower() == "delivery-status"  # type: ignore[union-attr]
    )
    recipients: tuple[RecipientStatus, ...] = ()
    original: str | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status" and not recipients:
            recipients = _recipients(part)
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None and part is not message:
            original = _original_id(part)
    if standard:
        if not any(r.action in ("failed", "delayed") for r in recipients):
            return None  # a report of delivery (or nothing we can read): not a bounce
        return Bounce(original, recipients, standard=True)
    subject = str(message.get("Subject", ""))
    sender = str(message.get("From", ""))
    if original is None or not _DAEMON_NAME.search(sender) or not _FAILED_SUBJECT.search(subject):
        return None
    return Bounce(original, (RecipientStatus("", "failed", ""),), standard=False)

"""Decode one full message (already matched as a tracked reply) into a `ParsedMessage`.

Only a few messages per mailbox reach this point, so it can afford `email.policy.default` (proper
RFC 2047/2231 decoding). What it cannot afford is to raise: input is whatever a stranger sent. Every
step that can fail is guarded; what went wrong is written to `problems`, and the message is still
logged with whatever could be decoded.

Body rules: text/plain parts (not attachments) make `text`; text/html parts make `html` (sanitised);
with no text/plain, `text` is derived from the HTML. Every other leaf — and any part with a filename,
inline or not — is an attachment. An attached message/rfc822 becomes `<its subject>.eml`.
Message-ID, In-Reply-To and References come from `scan_headers`, the very code the hot path uses, so
the idempotency key cannot differ between the two paths.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, getaddresses
from functools import partial
from typing import TypeVar

from inboxlink.domain.models import Address, Attachment, ParsedMessage
from inboxlink.mime._names import attachment_name, decode_words, safe_filename
from inboxlink.mime._text import clean_str, decode_text, html_to_text, unflow
from inboxlink.mime.headers import scan_headers
from inboxlink.mime.sanitize import sanitize_html

__all__ = ["DEFAULT_MAX_ATTACHMENT_BYTES", "parse_message", "safe_filename"]

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
_MAX_DEPTH = 32  # deeper MIME nesting is an attack, not mail
_MAX_PROBLEMS = 50
_EML_POLICY = policy.compat32.clone(linesep="\r\n")  # re-serialise attached mail as the raw form it had
_T = TypeVar("_T")


class _Collector:
    """Mutable state of one parse; kept out of the frozen result until the end."""

    def __init__(self, max_attachment_bytes: int) -> None:
        self.max_attachment_bytes = max_attachment_bytes
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[Attachment] = []
        self.problems: dict[str, None] = {}  # ordered set: hostile input repeats the same defect

    def problem(self, text: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems[text] = None

    def guarded(self, what: str, fn: Callable[[], _T], default: _T) -> _T:
        try:
            return fn()
        except Exception as exc:  # stdlib email bugs on hostile input must not lose the message
            self.problem(f"{what}: {type(exc).__name__}: {exc}"[:300])
            return default


def parse_message(raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES) -> ParsedMessage:
    """Decode `raw` (RFC 5322 bytes). Never raises on bad input; see `ParsedMessage.problems`."""
    ids = scan_headers(raw)
    out = _Collector(max_attachment_bytes)
    msg = out.guarded("message", lambda: BytesParser(policy=policy.default).parsebytes(raw), None)
    if not isinstance(msg, EmailMessage):
        return ParsedMessage(
            message_id=ids.message_id, sender=None, to=(), cc=(), subject="", date=None, text="",
            html=None, attachments=(), in_reply_to=ids.in_reply_to, references=ids.references,
            problems=tuple(out.problems),
        )  # fmt: skip
    senders = _addresses(msg, "From", out)
    to = _addresses(msg, "To", out)
    cc = _addresses(msg, "Cc", out)
    subject = out.guarded("Subject", lambda: clean_str(str(_header(msg, "Subject", out) or "")).strip(), "")
    date = out.guarded("Date", lambda: _date(_header(msg, "Date", out)), None)
    out.guarded("MIME structure", lambda: _walk(msg, 0, out), None)
    html: str | None = None
    if out.htmls:
        joined = clean_str("\n".join(out.htmls))
        html = out.guarded("html", lambda: sanitize_html(joined).strip(), "")
    text = clean_str("\n".join(out.texts))
    if not out.texts and html:
        safe_html = html
        text = out.guarded("html to text", lambda: html_to_text(safe_html), "")
    return ParsedMessage(
        message_id=ids.message_id,
        sender=senders[0] if senders else None,
        to=to,
        cc=cc,
        subject=subject,
        date=date,
        text=text,
        html=html,
        attachments=tuple(out.attachments),
        in_reply_to=ids.in_reply_to,
        references=ids.references,
        problems=tuple(out.problems),
    )


def _header(msg: Message, field: str, out: _Collector) -> object:
    """The parsed header object (policy.default), with its parse defects noted as problems."""
    header = msg[field]
    for defect in getattr(header, "defects", ()):
        out.problem(f"{field}: {defect}")
    return header


def _addresses(msg: Message, field: str, out: _Collector) -> tuple[Address, ...]:
    header = out.guarded(field, lambda: _header(msg, field, out), None)
    parsed = [a for a in getattr(header, "addresses", ()) if a.username and a.domain]
    for address in getattr(header, "addresses", ()):
        if not (address.username and address.domain):
            out.problem(f"{field}: skipped incomplete address {clean_str(address.addr_spec)!r}")
    names = [clean_str(a.display_name) for a in parsed]
    raw = next((str(value) for name, value in msg.raw_items() if name.lower() == field.lower()), "")
    if "=?" in raw:
        names = out.guarded(f"{field} names", lambda: _rfc2047_names(raw, parsed, names), names)
    return tuple(Address(email=clean_str(a.addr_spec), name=n) for a, n in zip(parsed, names, strict=True))


def _rfc2047_names(raw: str, parsed: list[HeaderAddress], names: list[str]) -> list[str]:
    """Display names decoded per RFC 2047 §6.2.

    policy.default puts a space between adjacent encoded-words of a display name, so a long name
    that the sender split across words comes back as "Ωμέ γα". Re-decode from the raw header, and
    use the result only when it lists the very same addresses.
    """
    unfolded = raw.replace("\r", "").replace("\n", "")
    pairs = [(name, addr) for name, addr in getaddresses([unfolded]) if addr]
    if [addr for _, addr in pairs] != [a.addr_spec for a in parsed]:
        return names
    return [decode_words(name).strip() for name, _ in pairs]


def _date(header: object) -> datetime | None:
    value = getattr(header, "datetime", None)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # "-0000" = UTC, unknown zone


def _walk(part: Message, depth: int, out: _Collector) -> None:
    if depth > _MAX_DEPTH:
        out.problem(f"MIME nesting deeper than {_MAX_DEPTH}; inner parts skipped")
        return
    for defect in part.defects:
        out.problem(f"MIME: {type(defect).__name__}")
    if part.get_content_maintype() == "message" and part.is_multipart():
        out.guarded("attached message", lambda: _attach_message(part, out), None)
    elif part.is_multipart():
        payload = part.get_payload()
        for child in payload if isinstance(payload, list) else ():
            if isinstance(child, Message):  # one broken part must not cost its siblings
                out.guarded("MIME part", partial(_walk, child, depth + 1, out), None)
    else:
        out.guarded(f"{part.get_content_type()} part", lambda: _leaf(part, out), None)


def _leaf(part: Message, out: _Collector) -> None:
    content_type = part.get_content_type()
    raw_name = part.get_filename()
    is_body = raw_name is None and part.get_content_disposition() != "attachment"
    if is_body and content_type in ("text/plain", "text/html"):
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        text, problem = decode_text(data, part.get_content_charset())
        if problem:
            out.problem(f"{content_type}: {problem}")
        if content_type == "text/html":
            out.htmls.append(text)
            return
        if _param(part, "format") == "flowed":
            text = unflow(text, delsp=_param(part, "delsp") == "yes")
        out.texts.append(text)
        return
    filename = attachment_name(decode_words(raw_name) if raw_name else None, content_type)
    if _too_big(part, out.max_attachment_bytes):
        out.problem(f"attachment {filename!r} larger than {out.max_attachment_bytes} bytes; content dropped")
        out.attachments.append(Attachment(filename=filename, content_type=content_type, data=b""))
        return
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    _add_attachment(out, filename, content_type, data)


def _param(part: Message, name: str) -> str:
    value = part.get_param(name, "")
    return (
        collapse_rfc2231_value(value).strip().lower() if isinstance(value, tuple) else value.strip().lower()
    )


def _too_big(part: Message, limit: int) -> bool:
    """Decide from the encoded size where possible, so a huge part is never decoded at all."""
    encoded = part.get_payload()
    if not isinstance(encoded, str):
        return False
    if len(encoded) <= limit:
        return False  # decoding never grows data
    if part.get("Content-Transfer-Encoding", "").strip().lower() == "base64":
        whitespace = encoded.count("\n") + encoded.count("\r") + encoded.count(" ")
        return (len(encoded) - whitespace) * 3 // 4 - 3 > limit
    return False  # qp/8bit: checked after decoding


def _add_attachment(out: _Collector, filename: str, content_type: str, data: bytes) -> None:
    if len(data) > out.max_attachment_bytes:
        out.problem(f"attachment {filename!r} larger than {out.max_attachment_bytes} bytes; content dropped")
        data = b""
    out.attachments.append(Attachment(filename=filename, content_type=content_type, data=data))


def _attach_message(part: Message, out: _Collector) -> None:
    payload = part.get_payload()
    messages = [item for item in payload if isinstance(item, Message)] if isinstance(payload, list) else []
    inner = messages[0] if messages else None
    content_type = part.get_content_type()
    raw_name = part.get_filename()
    if raw_name:
        filename = safe_filename(decode_words(raw_name))
    elif inner is not None and content_type in ("message/rfc822", "message/global"):
        subject = out.guarded(
            "attached message subject", lambda: clean_str(str(inner["Subject"] or "")).strip(), ""
        )
        # A subject is not a path: "Q3 / Q4" must not lose its first half to safe_filename.
        filename = safe_filename((subject or "message").replace("/", "_").replace("\\", "_") + ".eml")
    else:
        filename = attachment_name(None, content_type)
    data = b"".join(item.as_bytes(policy=_EML_POLICY) for item in messages)
    _add_attachment(out, filename, content_type, data)

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
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesFeedParser
from email.utils import collapse_rfc2231_value
from functools import partial
from typing import TypeVar

from inboxlink.domain.media_types import media_type_or_default
from inboxlink.domain.models import Address, Attachment, ParsedMessage
from inboxlink.mime import _fields
from inboxlink.mime._names import attachment_name, decode_words, safe_filename
from inboxlink.mime._text import clean_str, decode_text, html_to_text, unflow
from inboxlink.mime.headers import scan_headers
from inboxlink.mime.sanitize import sanitize_html_within

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_BYTES",
    "MAX_ATTACHMENTS",
    "MAX_HTML_CHARS",
    "MAX_PARTS",
    "MAX_TEXT_CHARS",
    "TRUNCATED",
    "headers_only",
    "parse_message",
    "safe_filename",
]

DEFAULT_MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
# Caps on what one message can make us do and store. Real mail stays far below every one of them;
# a stranger's reply reached each (issue 9: 100,000 one-byte parts, a 17 MB HTML body). What is cut
# is named in `problems` with the TRUNCATED prefix, and the caller keeps the original message as an
# attachment, so nothing is lost but the rendering.
MAX_PARTS = 1_000  # MIME parts read: the parser stops feeding there (100,000 parts took 27 s)
MAX_ATTACHMENTS = 100  # attachments kept: each is a row and a file; the rest are named, not stored
MAX_TEXT_CHARS = 1_000_000  # ~300 printed pages of plain text
MAX_HTML_CHARS = 2_000_000  # sanitised HTML; every view of the record sends it to the browser
TRUNCATED = "truncated: "  # the prefix of every problem that means "not everything is shown"
_FEED_CHUNK = 64 * 1024  # the parser is fed in chunks so it can stop at MAX_PARTS
_MAX_DEPTH = 32  # deeper MIME nesting is an attack, not mail
_MAX_PROBLEMS = 50
_TOO_MANY_PARTS = f"{TRUNCATED}more than {MAX_PARTS:,} MIME parts; the rest of the message was not read"
_NAMES_LISTED = 10  # names of attachments over the cap written into the problem
_EML_POLICY = policy.compat32.clone(linesep="\r\n")  # re-serialise attached mail as the raw form it had
_T = TypeVar("_T")
_NO_FIELDS: _fields.HeaderFields = ((), (), (), "", None)


class _Collector:
    """Mutable state of one parse; kept out of the frozen result until the end."""

    def __init__(self, max_attachment_bytes: int) -> None:
        self.max_attachment_bytes = max_attachment_bytes
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.body_chars = 0
        self.attachments: list[Attachment] = []
        self.skipped: list[str] = []  # names of attachments beyond MAX_ATTACHMENTS
        self.leaves = 0
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
    out = _Collector(max_attachment_bytes)
    msg = out.guarded("message", lambda: _parse_tree(raw, out), None)
    if not isinstance(msg, EmailMessage):
        return _result(raw, out, _NO_FIELDS, text="", html=None)
    no_one: tuple[Address, ...] = ()
    fields: _fields.HeaderFields = (
        out.guarded("From", lambda: _fields.addresses(msg, "From", out.problem), no_one),
        out.guarded("To", lambda: _fields.addresses(msg, "To", out.problem), no_one),
        out.guarded("Cc", lambda: _fields.addresses(msg, "Cc", out.problem), no_one),
        out.guarded("Subject", lambda: _fields.subject(msg, out.problem), ""),
        out.guarded("Date", lambda: _fields.date(msg, out.problem), None),
    )
    out.guarded("MIME structure", lambda: _walk(msg, 0, out), None)
    if out.skipped:
        shown = ", ".join(repr(n) for n in out.skipped[:_NAMES_LISTED])
        more = f" and {len(out.skipped) - _NAMES_LISTED:,} more" if len(out.skipped) > _NAMES_LISTED else ""
        out.problem(
            f"{TRUNCATED}{len(out.skipped):,} attachments beyond the first {MAX_ATTACHMENTS} "
            f"were not kept: {shown}{more}"
        )
    html: str | None = None
    if out.htmls:
        joined = clean_str("\n".join(out.htmls))
        html = out.guarded("html", lambda: _capped_html(joined, out), "")
    text = _capped_text(clean_str("\n".join(out.texts)), out)
    if not out.texts and html:
        safe_html = html
        text = out.guarded("html to text", lambda: _capped_text(html_to_text(safe_html), out), "")
    return _result(raw, out, fields, text=text, html=html)


def headers_only(raw: bytes, *, text: str, problem: str) -> ParsedMessage:
    """A message we could not parse in full (over its time budget): its headers, read by the simple
    readers in bounded time, `text` as the body, and `problem` noted."""
    out = _Collector(0)
    out.problem(problem)
    fields = out.guarded("headers", lambda: _fields.read_header_block(raw, out.problem), _NO_FIELDS)
    return _result(raw, out, fields, text=text, html=None)


def _result(
    raw: bytes, out: _Collector, fields: _fields.HeaderFields, *, text: str, html: str | None
) -> ParsedMessage:
    ids = scan_headers(raw)
    senders, to, cc, subject, date = fields
    sender: Address | None = senders[0] if senders else None
    return ParsedMessage(
        message_id=ids.message_id,
        sender=sender,
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


def _parse_tree(raw: bytes, out: _Collector) -> Message:
    """The message tree, fed to the parser in chunks until it holds MAX_PARTS parts."""
    parts = 0

    def factory(policy: policy.Policy = policy.default) -> EmailMessage:
        nonlocal parts
        parts += 1
        return EmailMessage(policy=policy)

    parser = BytesFeedParser(policy=policy.default.clone(message_factory=factory))
    for start in range(0, len(raw), _FEED_CHUNK):
        if parts > MAX_PARTS:
            out.problem(_TOO_MANY_PARTS)
            break
        parser.feed(raw[start : start + _FEED_CHUNK])
    return parser.close()


def _capped_text(text: str, out: _Collector) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    out.problem(f"{TRUNCATED}the text was longer than {MAX_TEXT_CHARS:,} characters and was cut")
    head = text[:MAX_TEXT_CHARS]
    # At a line break when there is one near the end, so the cut does not split a word.
    newline = head.rfind("\n", MAX_TEXT_CHARS - 10_000)
    return head[: newline + 1] if newline != -1 else head


def _capped_html(html: str, out: _Collector) -> str:
    safe, cut = sanitize_html_within(html, MAX_HTML_CHARS)
    if cut:
        out.problem(f"{TRUNCATED}the HTML was longer than {MAX_HTML_CHARS:,} characters and was cut")
    return safe.strip()


def _walk(part: Message, depth: int, out: _Collector) -> None:
    if depth > _MAX_DEPTH:
        out.problem(f"MIME nesting deeper than {_MAX_DEPTH}; inner parts skipped")
        return
    for defect in part.defects:
        out.problem(f"MIME: {type(defect).__name__}")
    if part.get_content_maintype() == "message" and part.is_multipart():
        if _count_leaf(out):
            out.guarded("attached message", lambda: _attach_message(part, out), None)
    elif part.is_multipart():
        payload = part.get_payload()
        for child in payload if isinstance(payload, list) else ():
            if isinstance(child, Message):  # one broken part must not cost its siblings
                out.guarded("MIME part", partial(_walk, child, depth + 1, out), None)
    elif _count_leaf(out):
        out.guarded(f"{media_type_or_default(part.get_content_type())} part", lambda: _leaf(part, out), None)


def _count_leaf(out: _Collector) -> bool:
    """False once MAX_PARTS leaves were read (the feed stops near there; this makes it exact)."""
    out.leaves += 1
    if out.leaves > MAX_PARTS:
        out.problem(_TOO_MANY_PARTS)
        return False
    return True


def _leaf(part: Message, out: _Collector) -> None:
    content_type = part.get_content_type()
    raw_name = part.get_filename()
    is_body = raw_name is None and part.get_content_disposition() != "attachment"
    if is_body and content_type in ("text/plain", "text/html"):
        bodies, cap = (
            (out.htmls, MAX_HTML_CHARS) if content_type == "text/html" else (out.texts, MAX_TEXT_CHARS)
        )
        if sum(map(len, bodies)) > cap:
            return  # already more than is kept: decoding more only costs time (the cut is noted)
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        text, problem = decode_text(data, part.get_content_charset())
        if problem:
            out.problem(f"{content_type}: {problem}")
        if content_type == "text/plain" and _param(part, "format") == "flowed":
            text = unflow(text, delsp=_param(part, "delsp") == "yes")
        bodies.append(text)
        return
    content_type = media_type_or_default(content_type)
    filename = attachment_name(decode_words(raw_name) if raw_name else None, content_type)
    if len(out.attachments) >= MAX_ATTACHMENTS:
        out.skipped.append(filename)  # never decoded: the cap is also a cap on work
        return
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
    content_type = media_type_or_default(part.get_content_type())
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
    if len(out.attachments) >= MAX_ATTACHMENTS:
        out.skipped.append(filename)
        return
    data = b"".join(item.as_bytes(policy=_EML_POLICY) for item in messages)
    _add_attachment(out, filename, content_type, data)

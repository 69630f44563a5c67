"""Render an `OutgoingMessage` as RFC 5322 bytes (CRLF line endings, 7-bit clean).

The MIME body tree comes from `email.message.EmailMessage`; the top-level header block is written
here by hand, because the stdlib folder turns long `References` lines into encoded-words (which breaks
threading in every client) and encodes IDN domains in addresses as encoded-words too.

Threading headers: `Message-ID: <ours>`, `In-Reply-To: <parent>` when replying, and `References`
= the parent's references + the parent + OUR OWN id, trimmed to the first and the newest 20
(`domain.message_ids.trim_references`). Our id in References lets a reply still match when a provider
rewrites the Message-ID (Amazon SES, some Exchange setups). Ids with non-ASCII characters (RFC 6532)
are left out of In-Reply-To/References: this header block is 7-bit (we do not send SMTPUTF8), and
RFC 2047 forbids encoded-words in a msg-id, so no form of such an id could be written.

Bcc recipients are never written: they are given to SMTP as envelope recipients only.
"""

from __future__ import annotations

import re
from datetime import UTC
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from inboxlink.domain.content_types import attachment_type
from inboxlink.domain.message_ids import normalise, trim_references
from inboxlink.domain.models import Address, Attachment, OutgoingMessage

__all__ = ["build_message"]

_POLICY = policy.SMTP  # CRLF, lines folded at 78, 7-bit transfer encodings
_CRLF = "\r\n"
_FORBIDDEN = ("\r", "\n", "\0")
_ADDRESS_SPECIALS = frozenset(' \t<>()[],;:"\\')
_MAX_PLAIN_WORD = 76  # longer ASCII words cannot be folded; encode them instead


def _check(value: str, what: str) -> str:
    """Defence in depth against header injection: callers validate, this refuses anyway."""
    if any(ch in value for ch in _FORBIDDEN):
        raise ValueError(f"{what} must not contain CR, LF or NUL: {value!r}")
    return value


def _message_id(raw: str, what: str) -> str:
    _check(raw, what)
    message_id = normalise(raw)
    if message_id is None:
        raise ValueError(f"{what} is not a usable Message-ID: {raw!r}")
    return message_id


def _addr_spec(email: str) -> str:
    _check(email, "address")
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain or any(ch in _ADDRESS_SPECIALS for ch in local + domain):
        raise ValueError(f"not a plain email address: {email!r}")
    if not local.isascii():
        raise ValueError(f"non-ASCII local part needs SMTPUTF8, which is not supported: {email!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid domain in address: {email!r}") from exc
    return f"{local}@{domain}"


def _needs_encoding(text: str) -> bool:
    return (
        not text.isascii()
        or not text.isprintable()
        or "=?" in text  # would otherwise be decoded as an encoded-word by the reader
        or any(len(word) > _MAX_PLAIN_WORD for word in text.split())
    )


def _format_address(address: Address) -> str:
    spec = _addr_spec(address.email)
    name = _check(address.name, "display name").strip()
    if not name:
        return spec
    if _needs_encoding(name):
        return f"{Header(name, 'utf-8').encode(linesep=_CRLF)} <{spec}>"
    return formataddr((name, spec))  # quotes and escapes specials such as `,` and `"`


def _address_field(name: str, addresses: tuple[Address, ...]) -> str:
    # One address per line keeps every line short without folding inside an address.
    return f"{name}: " + f",{_CRLF} ".join(_format_address(a) for a in addresses) + _CRLF


def _subject_field(subject: str) -> str:
    _check(subject, "subject")
    charset = "utf-8" if _needs_encoding(subject) else "us-ascii"
    return "Subject: " + Header(subject, charset, header_name="Subject").encode(linesep=_CRLF) + _CRLF


OWN_ID_HEADER = "X-Inboxlink-Id"
_MAC = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _threading_fields(msg: OutgoingMessage, own_id: str) -> str:
    lines = [f"Message-ID: <{own_id}>{_CRLF}"]
    # A parent's id we cannot write in 7 bits is dropped rather than failing the reply: our own id
    # (always ASCII) still ends References, which is what matches the answer to this email.
    parent = _message_id(msg.in_reply_to, "in_reply_to") if msg.in_reply_to else None
    parent = parent if parent is not None and parent.isascii() else None
    chain = [ref for ref in (_message_id(raw, "reference") for raw in msg.references) if ref.isascii()]
    if parent is not None:
        lines.append(f"In-Reply-To: <{parent}>{_CRLF}")
        chain.append(parent)
    chain.append(own_id)
    ordered = list(dict.fromkeys(reversed(chain)))[::-1]  # dedupe, keeping each id's last position
    refs = trim_references(ordered)
    lines.append("References: " + f"{_CRLF} ".join(f"<{ref}>" for ref in refs) + _CRLF)
    return "".join(lines)


def _body(msg: OutgoingMessage) -> EmailMessage:
    body = EmailMessage(policy=_POLICY)
    # Quoted-printable keeps the body 7-bit (no 8BITMIME needed) and survives long lines.
    body.set_content(msg.text, cte="quoted-printable")
    if msg.html is not None:
        body.add_alternative(msg.html, subtype="html", cte="quoted-printable")
    for attachment in msg.attachments:
        _attach(body, attachment)
    for part in body.walk():
        if part is not body:
            del part["MIME-Version"]  # EmailMessage adds it to every part; only the top needs it
    return body


def _attach(body: EmailMessage, attachment: Attachment) -> None:
    filename = _check(attachment.filename, "attachment filename")
    # Only a plain type/subtype token pair, never multipart/* or message/* (a base64 leaf part
    # cannot be either): anything else goes out as application/octet-stream.
    declared = _check(attachment.content_type, "attachment content type")
    maintype, _, subtype = attachment_type(declared).partition("/")
    # Bytes are always base64-encoded, so attachments come back byte-exact. Non-ASCII filenames
    # become RFC 2231 `filename*=utf-8''...`.
    body.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=filename)


def own_id_field(own_id: str, mac: str | None) -> str:
    """`X-Inboxlink-Id: <id>; mac=<MAC>`: the id first, as copies sent before the MAC have it, so
    the same parse (and Sent-folder searches for `<id>`) read both; folded only past 998 octets."""
    if mac is None:
        return f"{OWN_ID_HEADER}: <{own_id}>{_CRLF}"
    if not _MAC.fullmatch(mac):
        raise ValueError(f"not an own-id MAC: {mac!r}")
    line = f"{OWN_ID_HEADER}: <{own_id}>; mac={mac}"
    if len(line) > 998:
        line = f"{OWN_ID_HEADER}: <{own_id}>;{_CRLF} mac={mac}"
    return line + _CRLF


def build_message(msg: OutgoingMessage, *, own_id_mac: str | None = None) -> bytes:
    """The full message, ready for SMTP DATA and IMAP APPEND. Raises ValueError on unsafe input.

    A naive `msg.date` is taken as UTC. `own_id_mac` (services sign the id with the installation
    key) proves a Sent-folder copy is ours; without it the id header has no MAC and is not honoured.
    """
    own_id = _message_id(msg.message_id, "message_id")
    if not msg.to and not msg.cc and not msg.bcc:
        raise ValueError("message has no recipients")
    date = msg.date if msg.date.tzinfo is not None else msg.date.replace(tzinfo=UTC)
    head = [_address_field("From", (msg.sender,))]
    if msg.to:
        head.append(_address_field("To", msg.to))
    elif not msg.cc:
        head.append(f"To: undisclosed-recipients:;{_CRLF}")  # what MUAs write for Bcc-only mail
    if msg.cc:
        head.append(_address_field("Cc", msg.cc))
    for address in msg.bcc:
        _addr_spec(address.email)  # validated like the others even though never written
    head.append(_subject_field(msg.subject))
    head.append(f"Date: {format_datetime(date)}{_CRLF}")
    head.append(_threading_fields(msg, own_id))
    head.append(f"X-Mailer: inboxlink{_CRLF}")
    # Survives a relay that replaces Message-ID: lets the monitor recognise the provider's own Sent
    # copy as this very email, not a new one (honoured only in Sent and only with a valid MAC).
    head.append(own_id_field(own_id, own_id_mac))
    return "".join(head).encode("ascii") + _body(msg).as_bytes(policy=_POLICY)

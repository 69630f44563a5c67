"""Attachment names: decode what senders write, then make it safe to store and to offer for download."""

from __future__ import annotations

import re
import unicodedata
from email.errors import HeaderParseError
from email.header import decode_header

from inboxlink.mime._text import clean_str, decode_text

__all__ = ["attachment_name", "decode_words", "safe_filename"]

MAX_FILENAME_CHARS = 200
_FALLBACK = "attachment"
# Reserved on Windows or special to shells/URLs; replaced so a download lands under its shown name.
_UNSAFE = re.compile(r'[<>:"|?*]')
_EDGES = re.compile(r"^[\s.]+|[\s.]+$")  # leading dots hide files; trailing dots/spaces vanish on Windows
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(1, 10)} | {f"lpt{i}" for i in range(1, 10)}
)
_MAX_EXTENSION = 16
# Names for unnamed parts; a small table rather than `mimetypes`, which reads system files.
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/rfc822": ".eml",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/html": ".html",
    "text/plain": ".txt",
}


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words left in a parameter and raw 8-bit (RFC 6532) bytes."""
    value = clean_str(value)
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except (HeaderParseError, ValueError):
        return value
    decoded = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            decoded.append(decode_text(chunk, charset)[0])
        else:
            decoded.append(chunk)
    return "".join(decoded)


def safe_filename(name: str) -> str:
    """A plain file name: no directories, control/format characters or leading dots; ≤ 200 chars.

    `../../etc/passwd` → `passwd`, `C:\\Users\\x\\a.txt` → `a.txt`. Never empty (→ "attachment").
    Format characters (Unicode Cf) go too: U+202E would make `invoice\u202efdp.exe` look like a PDF.
    """
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    parts = [part for part in re.split(r"[/\\]", name) if part.strip(" .")]
    name = parts[-1] if parts else ""
    name = _EDGES.sub("", _UNSAFE.sub("_", name))
    if not name:
        return _FALLBACK
    if name.split(".")[0].strip().lower() in _WINDOWS_DEVICES:
        name = "_" + name
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= _MAX_EXTENSION:
            name = _EDGES.sub("", stem[: MAX_FILENAME_CHARS - len(extension) - 1]) + "." + extension
        else:
            name = _EDGES.sub("", name[:MAX_FILENAME_CHARS])
    return name or _FALLBACK


def attachment_name(decoded_name: str | None, content_type: str) -> str:
    """The stored name of an attachment: its own (made safe), else one derived from its type."""
    if decoded_name and decoded_name.strip():
        return safe_filename(decoded_name)
    return _FALLBACK + _EXTENSIONS.get(content_type, "")

"""Media types (MIME content types) we store and serve back: RFC 2045 `type/subtype`, or a safe default.

A stranger's mail chooses an attachment's Content-Type, and that string later goes out as the
`Content-Type` header of a download. A control character in it (`text/ht\\x0bml`) made the HTTP
server drop the connection ("Illegal header value"); a `;`, a space or a second `/` would smuggle
parameters or nonsense into the header. So only a lower-cased pair of RFC 2045 tokens is kept.
"""

from __future__ import annotations

import re

__all__ = ["FALLBACK_MEDIA_TYPE", "MAX_MEDIA_TYPE_CHARS", "media_type_or_default"]

FALLBACK_MEDIA_TYPE = "application/octet-stream"
MAX_MEDIA_TYPE_CHARS = 255  # the column's size; RFC 6838 names are at most 127 + 1 + 127
# RFC 2045 §5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>;
# tspecials are ()<>@,;:\"/[]?=  — so this class is what remains of the printable ASCII.
_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9a-z]+"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}")


def media_type_or_default(value: str | None) -> str:
    """`value` lower-cased when it is exactly `type/subtype` (RFC 2045 tokens), else application/octet-stream."""
    # ASCII before lower-casing: str.lower() maps e.g. "\u212a" (Kelvin sign) to an ASCII "k".
    if not value or len(value) > MAX_MEDIA_TYPE_CHARS or not value.isascii():
        return FALLBACK_MEDIA_TYPE
    lowered = value.lower()
    # fullmatch, not match + "$": "$" also matches before a trailing newline.
    return lowered if _MEDIA_TYPE.fullmatch(lowered) else FALLBACK_MEDIA_TYPE

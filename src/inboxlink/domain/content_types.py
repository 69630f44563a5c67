"""Which MIME type an attachment we write may carry.

An attachment is always sent as one base64 leaf part, so its type must be a plain RFC 2045
`type/subtype` pair of tokens: a `multipart/*` type would promise a boundary the part does not
have, `message/*` promises a 7-bit message inside (RFC 2046 §5.2.1 forbids base64 there), and
anything with tspecials (`te;xt/plain`, parameters, quotes) would be written into the header as
given. Such types become `application/octet-stream`: the bytes still arrive, byte-exact.
"""

from __future__ import annotations

import re

__all__ = ["OCTET_STREAM", "attachment_type"]

OCTET_STREAM = "application/octet-stream"

# RFC 2045 §5.1: token := 1*<any US-ASCII CHAR except SPACE, CTLs, or tspecials>,
# tspecials := ( ) < > @ , ; : \ " / [ ] ? =   (matched after lower-casing)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`{|}~0-9a-z]{1,127}")
_STRUCTURED = frozenset({"multipart", "message"})


def attachment_type(raw: str | None) -> str:
    """The lower-cased `type/subtype` to write for an attachment declared as `raw`."""
    maintype, slash, subtype = (raw or "").strip().lower().partition("/")
    if (
        not slash
        or _TOKEN.fullmatch(maintype) is None
        or _TOKEN.fullmatch(subtype) is None
        or maintype in _STRUCTURED
    ):
        return OCTET_STREAM
    return f"{maintype}/{subtype}"

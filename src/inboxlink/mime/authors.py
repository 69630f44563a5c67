"""The From fields of a message, read from its header block alone.

The BCC listener decides whose mail a message is before anything reads the body: a 5 MB message
from a stranger used to be parsed whole (37 s) and only then refused. Same parser and policy as
`parse_message`, given only the bytes up to the first empty line, so both read the same From.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

__all__ = ["MAX_HEADER_BYTES", "HeaderBlockTooLarge", "from_fields"]

# Postfix refuses header blocks over 100 KB (header_size_limit), Exchange 256 KB.
MAX_HEADER_BYTES = 256 * 1024


class HeaderBlockTooLarge(ValueError):
    """No empty line within MAX_HEADER_BYTES: the header block alone is larger than any MTA passes."""


def header_block(raw: bytes) -> bytes:
    """The bytes up to and including the empty line that ends the header block."""
    if raw.startswith((b"\r\n", b"\n")):
        return b""
    window = raw[: MAX_HEADER_BYTES + 4]
    ends = [i + n for i, n in ((window.find(b"\n\r\n"), 3), (window.find(b"\n\n"), 2)) if i != -1]
    if ends:
        return raw[: min(ends)]
    if len(raw) > MAX_HEADER_BYTES:
        raise HeaderBlockTooLarge(f"the header block is larger than {MAX_HEADER_BYTES // 1024} KB")
    return raw  # headers only, no body


def from_fields(raw: bytes) -> tuple[tuple[str, ...], ...]:
    """The addresses of each From field, as written (`alice@x`; `evil` for `From: alice@x, evil`),
    in order. Raises HeaderBlockTooLarge."""
    headers = BytesParser(policy=policy.default).parsebytes(header_block(raw), headersonly=True)
    fields = []
    for field in headers.get_all("From", []):
        addresses = getattr(field, "addresses", ())
        fields.append(tuple(str(a.addr_spec) for a in addresses))
    return tuple(fields)

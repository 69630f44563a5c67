"""The addresses in a header block (From, To, Cc), for the never-log decision taken before a
message is fetched in full. Only matched messages come here (a few per minute), so the standard
`email` parser's speed is no concern; on garbage it returns what it could read."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses


def header_participants(raw: bytes) -> tuple[str | None, list[str]]:
    """(sender address or None, To + Cc addresses), as written (not folded)."""
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        senders = [a for _n, a in getaddresses([str(v) for v in headers.get_all("From", [])]) if a]
        others = [
            a for _n, a in getaddresses([str(v) for f in ("To", "Cc") for v in headers.get_all(f, [])]) if a
        ]
    except Exception:
        return None, []
    return (senders[0] if senders else None), others

"""What of a remote server's words may be shown to a user.

Error messages quote the mail server ("535 Authentication failed", "[AUTHENTICATIONFAILED] ..."),
because that is often the only hint of what is wrong. But a connect form that quotes whatever a
port answers is a port scanner with echo (a NATS `INFO {...}` line, a database's handshake), and a
hostile server can send control characters or megabytes. So only the text of a syntactically valid
protocol response is ever quoted (the protocol rooms decide that), and that text goes through
`quotable`: printable characters only, whitespace runs folded, cut to a sane length.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_QUOTED", "quotable"]

MAX_QUOTED = 200


def quotable(text: str | None, limit: int = MAX_QUOTED) -> str:
    """`text` with control, format and unassigned characters removed, whitespace folded to single
    spaces, and at most `limit` characters (an ellipsis marks a cut)."""
    if not text:
        return ""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char.isspace() or category in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}:
            kept.append(" ")
        else:
            kept.append(char)
    folded = " ".join("".join(kept).split())
    return folded if len(folded) <= limit else folded[: limit - 1].rstrip() + "…"

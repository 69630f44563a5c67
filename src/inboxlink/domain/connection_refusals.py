"""What a server's refusal of a session means, in words a person can act on.

Providers cap the simultaneous IMAP connections of one account (Gmail 15, Exchange Online ~20, many
hosts fewer; docs/compatibility.md). Over the cap they answer the greeting or the login with `* BYE`
or `NO`, e.g. Gmail's "[ALERT] Too many simultaneous connections. (Failure)" or Dovecot's "Maximum
number of connections from user+IP exceeded". That is neither a wrong password (the inbox must not
be disconnected for it) nor a fault worth retrying every second: other apps hold the connections."""

from __future__ import annotations

import re

# Words of the refusals seen in the wild (Gmail, Yahoo, Dovecot, Courier, cPanel hosts).
_LIMIT = re.compile(
    r"too many (simultaneous |concurrent |open )?(connections|sessions|logins)"
    r"|maximum number of (connections|sessions)|connection limit|max(imum)?_?userip|\[LIMIT\]",
    re.IGNORECASE,
)

LIMIT_BACKOFF_START = 60.0  # seconds: other apps hold the connections; they do not go in a second


def is_connection_limit(server_text: str | None, code: str | None = None) -> bool:
    """Whether the server refused because the account has too many connections open."""
    return (code or "").upper() == "LIMIT" or bool(server_text and _LIMIT.search(server_text))


def explain_connection_limit(server_text: str | None, cap: int | None, retry_in: float) -> str:
    """The inbox's `last_error` for a refusal over the connection cap."""
    said = f" (it said: “{server_text}”)" if server_text else ""
    allowed = f", which allows {cap}" if cap else ""
    return (
        f"The mail server refused a connection because too many are already open for this mailbox{said}. "
        f"Other mail apps or devices signed in to the same account use them up{allowed}; inboxlink needs "
        f"only one. Close apps you no longer use; inboxlink tries again in {_duration(retry_in)}."
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{round(seconds)} seconds"
    return f"{round(seconds / 60)} minutes"

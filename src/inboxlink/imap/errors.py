"""The IMAP room's one exception tree (drawn in `inboxlink.imap.client`'s docstring).

Every error carries the server's own words (`server_text`) when there were any, so the layers above
can show them to the user without knowing IMAP; `code` is the response code (`UNAVAILABLE`,
`AUTHENTICATIONFAILED`, `TRYCREATE`, ...) when the server gave one. `server_text` is only ever the
text of a well-formed IMAP status response, cleaned by `quotable` (printable, at most 200
characters); messages are our own words and never quote raw bytes from the peer.
"""

from __future__ import annotations

from inboxlink.domain.server_text import quotable

__all__ = [
    "AuthFailed",
    "CapabilityMissing",
    "CommandFailed",
    "ConnectionFailed",
    "ImapError",
    "NotImapServer",
    "Pop3Greeting",
    "ProtocolError",
    "ServerBye",
    "TlsFailed",
]


class ImapError(Exception):
    """Base of every error raised by `inboxlink.imap`."""

    def __init__(self, message: str, *, server_text: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.server_text = quotable(server_text) or None
        self.code = quotable(code, 40) or None


class ConnectionFailed(ImapError):
    """The transport failed: refused, reset, DNS, timeout or an unexpected EOF. Usually transient."""


class ServerBye(ConnectionFailed):
    """The server said `* BYE` outside LOGOUT (shutdown, kicked session, idle too long)."""


class TlsFailed(ImapError):
    """TLS could not be set up: certificate not trusted, handshake failed, or STARTTLS not offered."""


class AuthFailed(ImapError):
    """The server rejected the credentials (LOGIN / AUTHENTICATE answered NO)."""


class Pop3Greeting(ImapError):
    """The server greeted with `+OK`: this is a POP3 server, not IMAP."""


class CapabilityMissing(ImapError):
    """The server lacks an extension the requested operation needs (e.g. AUTH=XOAUTH2, ENABLE)."""


class CommandFailed(ImapError):
    """A command was answered with a tagged NO or BAD; `code` holds the response code if any."""


class ProtocolError(ImapError):
    """The server sent something that is not IMAP, or IMAP this client cannot make sense of."""


class NotImapServer(ProtocolError):
    """What answered did not greet like an IMAP server (another service on that port)."""

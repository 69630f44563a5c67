"""The IMAP edge of inboxlink: an asyncio client with a pure (sans-I/O) protocol core.

`ImapClient` is the public entry point; the exception tree is drawn in `inboxlink.imap.client`.
"""

from .client import ImapClient
from .errors import (
    AuthFailed,
    CapabilityMissing,
    CommandFailed,
    ConnectionFailed,
    ImapError,
    NotImapServer,
    Pop3Greeting,
    ProtocolError,
    ServerBye,
    TlsFailed,
)
from .models import FetchedMessage, MailboxInfo, Security, SelectInfo
from .position import stable_select
from .utf7 import decode_mailbox, encode_mailbox

__all__ = [
    "AuthFailed",
    "CapabilityMissing",
    "CommandFailed",
    "ConnectionFailed",
    "FetchedMessage",
    "ImapClient",
    "ImapError",
    "MailboxInfo",
    "NotImapServer",
    "Pop3Greeting",
    "ProtocolError",
    "Security",
    "SelectInfo",
    "ServerBye",
    "TlsFailed",
    "decode_mailbox",
    "encode_mailbox",
    "stable_select",
]

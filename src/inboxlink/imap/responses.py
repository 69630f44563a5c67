"""Typed IMAP responses: what `protocol.ResponseReader` produces. Frozen dataclasses, no behaviour
beyond small accessors. Each keeps `raw`, its first line as received, for logging and for idle()."""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import MailboxInfo

__all__ = [
    "Capability",
    "Continuation",
    "Enabled",
    "Exists",
    "Expunge",
    "Fetch",
    "Flags",
    "ListEntry",
    "Recent",
    "Response",
    "Search",
    "StatusResponse",
    "Untagged",
    "Value",
]

Value = str | bytes | None | list["Value"]

_RAW = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Continuation:
    """`+ text`: the server waits for a literal, a SASL answer, or confirms IDLE."""

    text: str
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class StatusResponse:
    """OK/NO/BAD (tagged or untagged), BYE and PREAUTH. `tag` is None when untagged;
    `code`/`code_data` come from `[CODE data]` (code upper-cased)."""

    tag: str | None
    status: str
    code: str | None
    code_data: str | None
    text: str
    raw: bytes = _RAW

    def code_int(self, index: int = 0) -> int | None:
        """The index-th number of the code data: `[UIDVALIDITY 7]` → 7, `[APPENDUID 7 42]`, 1 → 42."""
        parts = (self.code_data or "").split()
        if index < len(parts) and parts[index].isdigit():
            return int(parts[index])
        return None


@dataclass(frozen=True, slots=True)
class Capability:
    capabilities: frozenset[str]
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class Enabled:
    capabilities: frozenset[str]
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class Exists:
    count: int
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class Recent:
    count: int
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class Expunge:
    seq: int
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class Flags:
    flags: frozenset[str]
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class Search:
    ids: tuple[int, ...]
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class ListEntry:
    mailbox: MailboxInfo
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class Fetch:
    """`* seq FETCH (...)`. Unsolicited flag updates come without UID, hence `uid: int | None`."""

    seq: int
    uid: int | None
    flags: frozenset[str] | None
    modseq: int | None
    header: bytes | None
    body: bytes | None
    size: int | None
    raw: bytes = _RAW


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """`* STATUS mailbox (MESSAGES n UIDNEXT n ...)`: the answer to STATUS, or, with NOTIFY (RFC
    5465), the server's news that a watched mailbox other than the selected one changed."""

    mailbox: str
    items: tuple[tuple[str, int], ...]
    raw: bytes = _RAW

    def get(self, name: str) -> int | None:
        return next((value for key, value in self.items if key == name), None)


@dataclass(frozen=True, slots=True)
class Untagged:
    """Any other untagged response (NAMESPACE, ID, VANISHED, ...), kept raw."""

    name: str
    raw: bytes = _RAW


Response = (
    Continuation
    | StatusResponse
    | Capability
    | Enabled
    | Exists
    | Recent
    | Expunge
    | Flags
    | Search
    | ListEntry
    | Fetch
    | MailboxStatus
    | Untagged
)

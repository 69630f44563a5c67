"""Typed results handed to the rest of inboxlink: plain frozen dataclasses, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FetchedMessage", "MailboxInfo", "Security", "SelectInfo"]

Security = Literal["tls", "starttls", "none"]


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """One LIST entry. `name` is decoded from modified UTF-7; `flags` are as the server sent them
    (`\\Sent`, `\\HasNoChildren`, ...)."""

    name: str
    flags: frozenset[str]
    delimiter: str | None


@dataclass(frozen=True, slots=True)
class SelectInfo:
    """What SELECT/EXAMINE told us; `highestmodseq` is None without CONDSTORE (or with NOMODSEQ)."""

    exists: int
    uidvalidity: int
    uidnext: int | None
    highestmodseq: int | None


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message from UID FETCH. `header` is the BODY[HEADER...] literal, `body` the BODY[] one;
    fields the command did not ask for are None."""

    uid: int
    flags: frozenset[str] | None
    modseq: int | None
    header: bytes | None
    body: bytes | None
    size: int | None

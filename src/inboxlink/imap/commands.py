"""Pure command encoding: arguments → the bytes to send, split where a literal needs the server's `+`.

Arguments are typed so that quoting is decided here, once: a plain `str` is sent verbatim (it is
already IMAP syntax, e.g. `1:*` or `(UID FLAGS)`), `String` is an astring (quoted when it is
printable ASCII, a literal otherwise), `Literal` is always a literal.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "Literal",
    "String",
    "encode_command",
    "expunge_args",
    "flag_list",
    "format_internal_date",
    "notify_set_args",
    "store_flags_args",
    "validate_fetch_fields",
    "validate_sequence_set",
    "xoauth2_response",
]


@dataclass(frozen=True, slots=True)
class String:
    """An astring: quoted if printable ASCII, else a literal of its UTF-8 bytes."""

    value: str


@dataclass(frozen=True, slots=True)
class Literal:
    data: bytes


Arg = str | String | Literal

_QUOTABLE_RE = re.compile(r"[\x20-\x7e]*")
_UNSAFE_RAW_RE = re.compile(r"[\r\n\x00]")


def _literal_prefix(size: int, nonsync_limit: int) -> tuple[bytes, bool]:
    """The `{n}` marker, and whether the client must wait for `+` before sending the data."""
    if size <= nonsync_limit:
        return b"{%d+}\r\n" % size, False
    return b"{%d}\r\n" % size, True


def encode_command(tag: str, *args: Arg, nonsync_limit: int = 0) -> list[bytes]:
    """Encode `tag arg arg ...CRLF`. Every chunk but the last ends with a synchronising literal
    marker: send it, wait for a continuation, then send the next chunk. `nonsync_limit` is the
    largest literal the server accepts without waiting (LITERAL+: unlimited, LITERAL-: 4096)."""
    chunks: list[bytes] = []
    current = bytearray(tag.encode("ascii"))
    for arg in args:
        current += b" "
        if isinstance(arg, str):
            if _UNSAFE_RAW_RE.search(arg):
                raise ValueError(f"CR, LF or NUL in command argument {arg[:40]!r}")
            current += arg.encode("utf-8")
            continue
        if isinstance(arg, String) and _QUOTABLE_RE.fullmatch(arg.value):
            current += b'"' + arg.value.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'"'
            continue
        data = arg.data if isinstance(arg, Literal) else arg.value.encode("utf-8")
        prefix, must_wait = _literal_prefix(len(data), nonsync_limit)
        current += prefix
        if must_wait:
            chunks.append(bytes(current))
            current = bytearray()
        current += data
    current += b"\r\n"
    chunks.append(bytes(current))
    return chunks


_SEQUENCE_SET_RE = re.compile(r"(?:\d+|\*)(?::(?:\d+|\*))?(?:,(?:\d+|\*)(?::(?:\d+|\*))?)*")
# RFC 5322 field names are printable ASCII without ":"; IMAP syntax characters are refused too
_FIELD_RE = re.compile(r"[!#-'*-9;-Z^-z|~]+")  # 0x21-0x7E minus : ( ) [ ] { } " \


def validate_sequence_set(uid_set: str) -> str:
    if not _SEQUENCE_SET_RE.fullmatch(uid_set):
        raise ValueError(f"not an IMAP sequence set: {uid_set[:40]!r}")
    return uid_set


def validate_fetch_fields(fields: list[str] | tuple[str, ...]) -> str:
    """`("Message-ID", "From")` → `MESSAGE-ID FROM`, refusing anything that could break the command."""
    if not fields:
        raise ValueError("at least one header field is needed")
    for name in fields:
        if not _FIELD_RE.fullmatch(name):
            raise ValueError(f"not a header field name: {name!r}")
    return " ".join(name.upper() for name in fields)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_internal_date(when: datetime) -> str:
    """RFC 3501 date-time (`"05-Mar-2024 14:03:00 +0100"`), independent of the C locale.
    A naive datetime is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    return (
        f'"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year:04d} '
        f'{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{hh:02d}{mm:02d}"'
    )


def xoauth2_response(username: str, access_token: str) -> str:
    """The base64 SASL XOAUTH2 initial response (Google/Microsoft format)."""
    raw = f"user={username}\x01auth=Bearer {access_token}\x01\x01"
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


_FLAG_RE = re.compile(r"\\?[^\s()\[\]{}\"\\%*]+")


def flag_list(flags: tuple[str, ...] | list[str]) -> str:
    """`("\\Seen", "$Label")` → `(\\Seen $Label)`, refusing anything that is not a flag."""
    for flag in flags:
        if not _FLAG_RE.fullmatch(flag):
            raise ValueError(f"not an IMAP flag: {flag!r}")
    return f"({' '.join(flags)})"


def store_flags_args(uid_set: str, flags: tuple[str, ...] | list[str], *, mode: str = "+") -> list[Arg]:
    """UID STORE that adds (`+`), removes (`-`) or sets (``) flags, `.SILENT`: the caller needs no
    FETCH echo of every message it touched (RFC 3501 §6.4.6)."""
    if mode not in ("+", "-", ""):
        raise ValueError(f"unknown STORE mode {mode!r}")
    return ["UID", "STORE", validate_sequence_set(uid_set), f"{mode}FLAGS.SILENT", flag_list(flags)]


def expunge_args(uid_set: str | None) -> list[Arg]:
    """UID EXPUNGE of `uid_set` (RFC 4315 UIDPLUS: only those messages), or plain EXPUNGE (every
    message flagged \\Deleted in the selected mailbox) when `uid_set` is None."""
    return ["EXPUNGE"] if uid_set is None else ["UID", "EXPUNGE", validate_sequence_set(uid_set)]


def notify_set_args(mailbox: str | None) -> list[Arg]:
    """NOTIFY SET (RFC 5465): new and expunged messages in the selected mailbox (as IDLE reports
    them) and in `mailbox` (already modified-UTF-7 encoded; the monitor's Sent folder), which the
    server then announces with an untagged STATUS. MessageNew and MessageExpunge go together (RFC
    5465 §5 requires both when either is asked for)."""
    events = "(MessageNew MessageExpunge)"
    args: list[Arg] = ["NOTIFY", "SET", f"(SELECTED {events})"]
    if mailbox is not None:
        args += ["(MAILBOXES", String(mailbox), f"{events})"]
    return args

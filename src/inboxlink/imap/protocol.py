"""Pure IMAP4rev1 response core: bytes in, typed responses out. Never touches a socket.

Feed whatever the transport read (any split, any size) into `ResponseReader.feed()`, then call
`next_response()` until it returns None ("need more data"). Framing follows RFC 3501 §4.3/§7.5: a
response is a line, except that a line ending in `{n}` (or `{n+}`, `~{n}`) announces n raw bytes
that are part of the same response, after which the line continues.

Values inside responses use three Python types so that nothing is lost: an atom is `str`, a string
(quoted or literal) is `bytes`, NIL is `None`, and a parenthesised list is `list`.

Why hand-written: measured against Dovecot, the hot path (UID FETCH of headers for 100k messages)
must stay close to raw socket speed, so buffering is linear (one bytearray, consumed by offset) and
tokenising is one `re.findall` per line segment.

Error messages never quote what the peer sent: a connect form that echoes whatever a port answers
is a port scanner with echo. Only the text of a well-formed status response reaches the user
(`StatusResponse.text`, cleaned by `domain.server_text.quotable` in `errors.ImapError`).
"""

from __future__ import annotations

import functools
import re

from .errors import ProtocolError
from .models import MailboxInfo
from .responses import (
    Capability,
    Continuation,
    Enabled,
    Exists,
    Expunge,
    Fetch,
    Flags,
    ListEntry,
    MailboxStatus,
    Recent,
    Response,
    Search,
    StatusResponse,
    Untagged,
    Value,
)
from .utf7 import decode_mailbox

__all__ = [
    "Capability",
    "Continuation",
    "Enabled",
    "Exists",
    "Expunge",
    "Fetch",
    "Flags",
    "ListEntry",
    "MailboxStatus",
    "Recent",
    "Response",
    "ResponseReader",
    "Search",
    "StatusResponse",
    "Untagged",
    "Value",
    "parse_values",
]


class ResponseReader:
    """Incremental framer + parser. Linear in the input: bytes are appended to one buffer and
    consumed by offset; a partial line is never rescanned from its start."""

    def __init__(self, *, max_line_length: int = 16 << 20, max_literal_size: int = 256 << 20) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed data
        self._scan = 0  # where the search for the next LF resumes
        self._need = -1  # >= 0 while waiting for that many literal bytes
        self._segments: list[bytes] = []
        self._literals: list[bytes] = []
        self._max_line = max_line_length
        self._max_literal = max_literal_size
        # Literal bytes since the transport last reset it (once per command): a hostile server
        # cannot make one command's answer, many literals together, grow without bound.
        self.literal_bytes = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            # bytearray deletes from the front in O(1) amortised, so this never goes quadratic
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a response."""
        return len(self._buf) - self._pos + sum(map(len, self._segments)) + sum(map(len, self._literals))

    def could_be_greeting(self) -> bool:
        """False once the unread bytes cannot begin an IMAP greeting (`* `) or the POP3 one that
        `ImapClient` explains (`+OK`): a database or message-broker port is told apart at once,
        instead of after a read timeout."""
        head = bytes(self._buf[self._pos : self._pos + 3]).upper()
        return b"* ".startswith(head[:2]) or b"+OK".startswith(head)

    def next_response(self) -> Response | None:
        """The next complete response, or None if more bytes are needed."""
        buf = self._buf
        while True:
            if self._need >= 0:
                end = self._pos + self._need
                if len(buf) < end:
                    return None
                self._literals.append(bytes(buf[self._pos : end]))
                self._pos = self._scan = end
                self._need = -1
            nl = buf.find(b"\n", self._scan)
            if (nl if nl >= 0 else len(buf)) - self._pos > self._max_line:
                raise ProtocolError(f"response line longer than {self._max_line} bytes")
            if nl < 0:
                self._scan = len(buf)
                return None
            stop = nl - 1 if nl > self._pos and buf[nl - 1] == 0x0D else nl  # tolerate bare LF
            line = bytes(buf[self._pos : stop])
            self._pos = self._scan = nl + 1
            if line.endswith(b"}"):
                size, marker = _literal_marker(line)
                if size >= 0:
                    if size > self._max_literal:
                        raise ProtocolError(f"literal of {size} bytes exceeds {self._max_literal}")
                    self.literal_bytes += size
                    if self.literal_bytes > self._max_literal:
                        raise ProtocolError(f"more than {self._max_literal} bytes of literals in one answer")
                    self._segments.append(line[:marker])
                    self._need = size
                    continue
            segments, literals = self._segments, self._literals
            segments.append(line)
            self._segments, self._literals = [], []
            return parse_response(segments, literals)


def _literal_marker(line: bytes) -> tuple[int, int]:
    """(size, index where the marker starts) for a line ending in {n}, {n+} or ~{n}; (-1, 0) if none."""
    start = line.rfind(b"{")
    if start < 0:
        return -1, 0
    digits = line[start + 1 : -1].rstrip(b"+")
    if not digits.isdigit():
        return -1, 0
    if start and line[start - 1] == 0x7E:  # literal8 (BINARY)
        start -= 1
    return int(digits), start


# One tuple per token: "(" | ")" | quoted | atom (which may hold a [section] with spaces) | junk.
# Every non-space byte matches some group, so findall() covers the text without gaps.
_TOKEN_RE = re.compile(rb'[ ]*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|((?:[^\s()"\[]+|\[[^\]]*\]|\[)+)|(\S))')
_UNESCAPE_RE = re.compile(rb"\\(.)")


def parse_values(segments: list[bytes], literals: list[bytes], offset: int = 0) -> list[Value]:
    """Tokenise a response body into nested values; literal i follows segment i."""
    top: list[Value] = []
    cur = top
    stack: list[list[Value]] = []
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        for opening, closing, quoted, atom, junk in _TOKEN_RE.findall(seg, offset if i == 0 else 0):
            if atom:
                cur.append(
                    None if len(atom) == 3 and atom.upper() == b"NIL" else atom.decode("utf-8", "replace")
                )
            elif opening:
                new: list[Value] = []
                cur.append(new)
                stack.append(cur)
                cur = new
            elif closing:
                if not stack:
                    raise ProtocolError("unbalanced ')' in a response")
                cur = stack.pop()
            elif junk:
                raise ProtocolError("an unexpected character in a response")
            else:  # a quoted string (possibly empty)
                cur.append(_UNESCAPE_RE.sub(rb"\1", quoted) if b"\\" in quoted else quoted)
        if i < last:
            cur.append(literals[i])
    if stack:
        raise ProtocolError("unbalanced '(' in response")
    return top


def _status(tag: str | None, status: str, tail: bytes, raw: bytes) -> StatusResponse:
    code = code_data = None
    if tail.startswith(b"["):
        end = tail.find(b"]")
        if end < 0:
            raise ProtocolError("an unterminated response code")
        name, _, data = tail[1:end].decode("utf-8", "replace").partition(" ")
        code, code_data = name.upper(), (data or None)
        tail = tail[end + 1 :]
    return StatusResponse(tag, status, code, code_data, tail.strip().decode("utf-8", "replace"), raw)


def _atoms(tail: bytes) -> frozenset[str]:
    return frozenset(tail.decode("ascii", "replace").upper().split())


def _int(value: Value) -> int:
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ProtocolError("a number was expected in a response")


def _flags(value: Value) -> frozenset[str]:
    if not isinstance(value, list):
        raise ProtocolError("a flag list was expected in a response")
    return frozenset(v for v in value if isinstance(v, str))


_STATUSES = frozenset({"OK", "NO", "BAD", "BYE", "PREAUTH"})


# The shape of nearly every FETCH a header scan sees, matched in one go; anything else (other items,
# several literals, lower case, ENVELOPE...) falls back to the general tokenizer below.
_FAST_FETCH_RE = re.compile(
    rb"\* (\d+) FETCH \((?:UID (\d+)|FLAGS \(([^()\"]*)\)|MODSEQ \((\d+)\)|RFC822\.SIZE (\d+)| )*"
    rb"(?:\)|BODY\[(HEADER[^\]]*|)\](?:<\d+>)? )"
)


@functools.lru_cache(maxsize=512)
def _flag_set(raw: bytes) -> frozenset[str]:
    """Messages share a handful of flag combinations: one frozenset each, instead of one per message
    (100k live frozensets made the garbage collector a third of a large scan's time)."""
    return frozenset(raw.decode("utf-8", "replace").split())


def _fast_fetch(m: re.Match[bytes], segments: list[bytes], literals: list[bytes]) -> Fetch | None:
    seq, uid, flags, modseq, size, section = m.groups()
    header = body = None
    if section is None:
        if len(segments) != 1:
            return None
    elif len(segments) != 2 or segments[1] != b")":
        return None
    elif section:
        header = literals[0]
    else:
        body = literals[0]
    return Fetch(
        int(seq),
        None if uid is None else int(uid),
        None if flags is None else _flag_set(flags),
        None if modseq is None else int(modseq),
        header,
        body,
        None if size is None else int(size),
        segments[0],
    )


def parse_response(segments: list[bytes], literals: list[bytes]) -> Response:
    """One framed response (segments split around literals) → a typed response."""
    first = segments[0]
    fast = _FAST_FETCH_RE.fullmatch(first)
    if fast is not None and (fetch := _fast_fetch(fast, segments, literals)) is not None:
        return fetch
    if first.startswith(b"+"):
        return Continuation(first[1:].strip().decode("utf-8", "replace"), first)
    if not first.startswith(b"* "):
        tag, _, rest = first.partition(b" ")
        status, _, tail = rest.partition(b" ")
        status_s = status.decode("ascii", "replace").upper()
        if not tag or status_s not in ("OK", "NO", "BAD"):
            raise ProtocolError("the server sent a line that is not an IMAP response")
        return _status(tag.decode("ascii", "replace"), status_s, tail, first)
    word, _, tail = first[2:].partition(b" ")
    if word.isdigit():
        number = int(word)
        kind, _, tail = tail.partition(b" ")
        kind_s = kind.decode("ascii", "replace").upper()
        if kind_s == "FETCH":
            return _fetch(number, segments, literals, len(first) - len(tail))
        if kind_s == "EXISTS":
            return Exists(number, first)
        if kind_s == "EXPUNGE":
            return Expunge(number, first)
        if kind_s == "RECENT":
            return Recent(number, first)
        return Untagged(kind_s, first)
    name = word.decode("ascii", "replace").upper()
    if name in _STATUSES:
        return _status(None, name, tail, first)
    if name == "CAPABILITY":
        return Capability(_atoms(tail), first)
    if name == "ENABLED":
        return Enabled(_atoms(tail), first)
    if name == "SEARCH":
        ids = tail.split(b"(", 1)[0].split()  # drop a CONDSTORE "(MODSEQ n)" suffix
        return Search(tuple(int(n) for n in ids if n.isdigit()), first)
    if name == "FLAGS":
        values = parse_values(segments, literals, len(first) - len(tail))
        return Flags(_flags(values[0] if values else None), first)
    if name == "LIST":
        return _list(segments, literals, len(first) - len(tail))
    if name == "STATUS":
        return _mailbox_status(segments, literals, len(first) - len(tail))
    return Untagged(name, first)


def _mailbox_status(segments: list[bytes], literals: list[bytes], offset: int) -> MailboxStatus:
    values = parse_values(segments, literals, offset)
    if len(values) != 2 or not isinstance(values[1], list) or not isinstance(values[0], (str, bytes)):
        raise ProtocolError("a malformed STATUS response")
    raw_name = values[0].encode("utf-8") if isinstance(values[0], str) else values[0]
    try:
        name = decode_mailbox(raw_name)
    except (ValueError, UnicodeDecodeError):
        name = raw_name.decode("utf-8", "replace")
    attrs = values[1]
    items: list[tuple[str, int]] = []
    for i in range(0, len(attrs) - 1, 2):
        key, value = attrs[i], attrs[i + 1]
        if isinstance(key, str) and isinstance(value, str) and value.isdigit():  # others: not ours
            items.append((key.upper(), int(value)))
    return MailboxStatus(name, tuple(items), segments[0])


def _list(segments: list[bytes], literals: list[bytes], offset: int) -> ListEntry:
    values = parse_values(segments, literals, offset)
    if len(values) < 3:
        raise ProtocolError("a LIST response without a mailbox name")
    flags, delimiter, raw_name = values[0], values[1], values[2]
    if isinstance(raw_name, str):
        raw_name = raw_name.encode("utf-8")
    if not isinstance(raw_name, bytes):
        raise ProtocolError("a LIST response without a mailbox name")
    try:
        name = decode_mailbox(raw_name)
    except (ValueError, UnicodeDecodeError):
        name = raw_name.decode("utf-8", "replace")  # not valid modified UTF-7: show it as sent
    sep = delimiter.decode("utf-8", "replace") if isinstance(delimiter, bytes) else None
    return ListEntry(MailboxInfo(name, _flags(flags), sep), segments[0])


def _fetch(seq: int, segments: list[bytes], literals: list[bytes], offset: int) -> Fetch:
    values = parse_values(segments, literals, offset)
    if len(values) != 1 or not isinstance(values[0], list):
        raise ProtocolError("a malformed FETCH response")
    items = values[0]
    uid = modseq = size = None
    flags = None
    header = body = None
    for i in range(0, len(items) - 1, 2):
        key, value = items[i], items[i + 1]
        if not isinstance(key, str):
            raise ProtocolError("a malformed FETCH item")
        key = key.upper()
        if key == "UID":
            uid = _int(value)
        elif key == "FLAGS":
            flags = _flags(value)
        elif key.startswith(("BODY[", "BINARY[")):
            section = key[key.find("[") + 1 : key.find("]")]
            data = value if isinstance(value, bytes) else None
            if not section:
                body = data
            elif section.startswith("HEADER"):
                header = data
        elif key == "MODSEQ":
            modseq = _int(value[0] if isinstance(value, list) and value else value)
        elif key == "RFC822.SIZE":
            size = _int(value)
        elif key == "RFC822":
            body = value if isinstance(value, bytes) else None
        elif key == "RFC822.HEADER":
            header = value if isinstance(value, bytes) else None
    return Fetch(seq, uid, flags, modseq, header, body, size, segments[0])


_STATUS_ITEM_RE = re.compile(rb"([A-Za-z0-9-]+) (\d+)")


def parse_status_items(raw: bytes) -> dict[str, int]:
    """`* STATUS "INBOX" (MESSAGES 1 UIDNEXT 2)` → {"MESSAGES": 1, "UIDNEXT": 2}: the item list is
    the last parenthesis (a quoted mailbox name may hold parentheses of its own)."""
    start, end = raw.rfind(b"("), raw.rfind(b")")
    if start < 0 or end < start:
        return {}
    return {k.decode().upper(): int(v) for k, v in _STATUS_ITEM_RE.findall(raw[start + 1 : end])}

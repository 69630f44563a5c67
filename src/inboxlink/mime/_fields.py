"""Reading the header fields `parse` keeps (From, To, Cc, Subject, Date) in bounded time.

`email.policy.default` decodes headers properly (RFC 2047 names, defects) but its header parser is
pure Python and slow on big values: a 785 KB Cc of 40,000 addresses took 8 s, a 1 MB Subject 6 s.
Real headers are small, so values up to `MAX_FULL_DECODE_CHARS` get the full decoder; longer ones
the simple readers (`email.utils.getaddresses`, RFC 2047 word decoding: regexes, 0.3 s for the
40,000 addresses). The same simple readers read the headers of a message that could not be parsed
within its time budget (`read_header_block`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from inboxlink.domain.models import Address
from inboxlink.mime._names import decode_words
from inboxlink.mime._text import clean_str

__all__ = [
    "MAX_FULL_DECODE_CHARS",
    "HeaderFields",
    "addresses",
    "date",
    "read_header_block",
    "subject",
]

MAX_FULL_DECODE_CHARS = 8_192  # a To/Cc of ~150 addresses; beyond, the simple readers
FALLBACK_VALUE_BYTES = 65_536  # of each field `read_header_block` reads (~3,000 addresses)
_SUBJECT_CUT = f"Subject: longer than {FALLBACK_VALUE_BYTES:,} characters; only the start is kept"
_FIELD = re.compile(rb"\n(from|to|cc|subject|date)[ \t]*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.IGNORECASE)

Note = Callable[[str], None]
HeaderFields = tuple[tuple[Address, ...], tuple[Address, ...], tuple[Address, ...], str, datetime | None]


def read_header_block(raw: bytes, note: Note) -> HeaderFields:
    """(senders, to, cc, subject, date) with the simple readers only, from at most the first 64 KB of
    each field: bounded work whatever `raw` is (one regex finds the fields, as in `scan_headers`)."""
    end = raw.find(b"\n\r\n")
    end = len(raw) if end == -1 else end
    bare = raw.find(b"\n\n", 0, end)
    values: dict[str, str] = {}
    for match in _FIELD.finditer(b"\n" + raw[: bare if bare != -1 else end]):
        name = match.group(1).decode("ascii").lower()
        if name not in values:  # the first occurrence wins, as with Message.__getitem__
            value = match.group(2)[:FALLBACK_VALUE_BYTES]
            values[name] = clean_str(_unfold(value.decode("utf-8", "surrogateescape")))
    senders, to, cc = (_simple_addresses(_whole_addresses(values.get(f, ""))) for f in ("from", "to", "cc"))
    title = _simple_subject(values.get("subject", ""), note)
    when = None
    if values.get("date"):
        try:
            when = _aware(parsedate_to_datetime(values["date"]))
        except (TypeError, ValueError, IndexError):
            note("Date: not a date")
    return senders, to, cc, title, when


def _whole_addresses(value: str) -> str:
    """A value cut at FALLBACK_VALUE_BYTES ends in half an address: drop it."""
    if len(value) < FALLBACK_VALUE_BYTES:
        return value
    return value[: max(0, value.rfind(","))]


def _raw(msg: Message, field: str) -> str | None:
    """The first `field`, undecoded (raw_items never runs the header parser)."""
    return next((str(value) for name, value in msg.raw_items() if name.lower() == field.lower()), None)


def _unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def _header(msg: Message, field: str, note: Note) -> object:
    """The parsed header object (policy.default), with its parse defects noted as problems."""
    header = msg[field]
    for defect in getattr(header, "defects", ()):
        note(f"{field}: {defect}")
    return header


def addresses(msg: Message, field: str, note: Note) -> tuple[Address, ...]:
    raw = _raw(msg, field)
    if raw is None:
        return ()
    if len(raw) > MAX_FULL_DECODE_CHARS:
        return _simple_addresses(raw)
    header = _header(msg, field, note)
    parsed = [a for a in getattr(header, "addresses", ()) if a.username and a.domain]
    for address in getattr(header, "addresses", ()):
        if not (address.username and address.domain):
            note(f"{field}: skipped incomplete address {clean_str(address.addr_spec)!r}")
    names = [clean_str(a.display_name) for a in parsed]
    if "=?" in raw:
        try:
            names = _rfc2047_names(raw, parsed, names)
        except Exception as exc:  # stdlib email bugs on hostile input must not lose the message
            note(f"{field} names: {type(exc).__name__}: {exc}"[:300])
    return tuple(Address(email=clean_str(a.addr_spec), name=n) for a, n in zip(parsed, names, strict=True))


def _simple_addresses(raw: str) -> tuple[Address, ...]:
    found = []
    for name, addr in getaddresses([_unfold(raw)]):
        local, at, domain = addr.rpartition("@")
        if at and local and domain:
            found.append(Address(email=clean_str(addr), name=decode_words(name).strip()))
    return tuple(found)


def _rfc2047_names(raw: str, parsed: list[HeaderAddress], names: list[str]) -> list[str]:
    """Display names decoded per RFC 2047 §6.2.

    policy.default puts a space between adjacent encoded-words of a display name, so a long name
    that the sender split across words comes back as "Ωμέ γα". Re-decode from the raw header, and
    use the result only when it lists the very same addresses.
    """
    pairs = [(name, addr) for name, addr in getaddresses([_unfold(raw)]) if addr]
    if [addr for _, addr in pairs] != [a.addr_spec for a in parsed]:
        return names
    return [decode_words(name).strip() for name, _ in pairs]


def subject(msg: Message, note: Note) -> str:
    raw = _raw(msg, "Subject")
    if raw is None:
        return ""
    if len(raw) > MAX_FULL_DECODE_CHARS:
        return _simple_subject(_unfold(raw), note)
    return clean_str(str(_header(msg, "Subject", note) or "")).strip()


def _simple_subject(value: str, note: Note) -> str:
    if len(value) >= FALLBACK_VALUE_BYTES:
        # Decoding a megabyte of encoded-words took 3 s, and nobody reads that much subject: the
        # start, cut between words.
        space = value.rfind(" ", 0, FALLBACK_VALUE_BYTES)
        value = value[: space if space > 0 else FALLBACK_VALUE_BYTES]
        note(_SUBJECT_CUT)
    return decode_words(value).strip()


def date(msg: Message, note: Note) -> datetime | None:
    raw = _raw(msg, "Date")
    if raw is None:
        return None
    if len(raw) > MAX_FULL_DECODE_CHARS:
        note("Date: not a date")
        return None
    value = getattr(_header(msg, "Date", note), "datetime", None)
    return _aware(value) if isinstance(value, datetime) else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # "-0000" = UTC, unknown zone

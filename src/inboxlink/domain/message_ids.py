"""Message-ID rules: one stored form for every id we read or write.

Stored form = the `id-left@id-right` text between the angle brackets, nothing else: no brackets, no
folding whitespace, no trailing comments. Comparison is exact (case-sensitive), because reply
matching must never pair a reply with the wrong thread.

These functions run on the header-scan hot path for every new message in every mailbox, so the
common case (well-formed `<id>` lists without comments) stays on C-level `str`/`re` operations.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence

__all__ = [
    "MAX_ID_LENGTH",
    "REFERENCES_TAIL",
    "new_message_id",
    "normalise",
    "parse_id_list",
    "trim_references",
]

# RFC 5322 caps a line at 998 octets; anything longer is not a real id and would bloat the index.
MAX_ID_LENGTH = 995

_BRACKETED = re.compile(r"<([^<>]*)>")
# Well-formed ids only; when it finds one id per "<", no id needs a closer look (the hot-path case).
_CLEAN_BRACKETED = re.compile(rf"<([^<>\x00-\x20\x7f\ufffd]{{1,{MAX_ID_LENGTH}}})>")
_WHITESPACE = re.compile(r"\s+")
_SPLIT_BARE = re.compile(r"[\s,]+")
# Printable ASCII/Unicode without whitespace, brackets or controls; U+FFFD marks undecodable bytes.
_INVALID = re.compile(r"[\x00-\x20\x7f<>\ufffd]")
_DOMAIN_INVALID = re.compile(r"[^A-Za-z0-9.\-]")


def _strip_comments(text: str) -> str:
    """Drop RFC 5322 comments `( ... )` (nestable) that sit outside `<...>`.

    Old clients write `In-Reply-To: <id> (Bob's message of today)`; a comment may itself contain
    `<...>`, which must not be mistaken for an id.
    """
    out: list[str] = []
    depth = 0
    in_angle = False
    escaped = False
    for ch in text:
        if depth:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            continue
        if ch == "(" and not in_angle:
            depth = 1
            out.append(" ")
            continue
        if ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        out.append(ch)
    return "".join(out)


def _clean(candidate: str) -> str | None:
    # Whitespace inside an id can only come from (broken) folding: RFC 5322 ids contain none.
    cleaned = _WHITESPACE.sub("", candidate)
    if not cleaned or len(cleaned) > MAX_ID_LENGTH or _INVALID.search(cleaned):
        return None
    return cleaned


def normalise(raw: str) -> str | None:
    """Return the stored form of one Message-ID, or None when nothing usable is there.

    Accepts `<id>`, a bare `id`, folded values and trailing comments. A bare value must contain `@`
    (every real id does) so that phrases such as `(none)` or `unknown` are not taken for ids.
    """
    if "(" in raw:
        raw = _strip_comments(raw)
    match = _BRACKETED.search(raw)
    if match is not None:
        return _clean(match.group(1))
    # No complete `<...>`: take the first bare token with an `@`, tolerating a lone bracket left by a
    # truncated header.
    for token in _SPLIT_BARE.split(raw):
        token = token.strip("<>")
        if "@" in token:
            return _clean(token)
    return None


def parse_id_list(raw: str | None) -> tuple[str, ...]:
    """All ids of a References / In-Reply-To value, in header order (oldest first for References).

    Duplicates are kept: the caller decides what ordering means. Falls back to whitespace/comma
    separated bare ids (each must contain `@`) when no `<...>` is present at all.
    """
    if not raw:
        return ()
    if "(" in raw:
        raw = _strip_comments(raw)
    if "<" in raw:
        clean = _CLEAN_BRACKETED.findall(raw)
        if len(clean) == raw.count("<"):
            return tuple(clean)
        ids = []
        for candidate in _BRACKETED.findall(raw):
            cleaned = _clean(candidate)
            if cleaned is not None:
                ids.append(cleaned)
        return tuple(ids)
    ids = []
    for token in _SPLIT_BARE.split(raw.strip()):
        if "@" in token:
            cleaned = _clean(token.strip("<>"))
            if cleaned is not None:
                ids.append(cleaned)
    return tuple(ids)


def new_message_id(domain: str) -> str:
    """A fresh, unguessable Message-ID (stored form) under `domain`.

    The time prefix keeps ids roughly sortable for humans reading logs; the 144-bit random token makes
    them unguessable, so nobody can forge a reply into a thread they never saw.
    """
    domain = domain.strip().rstrip(".")
    if any(ord(ch) > 127 for ch in domain):
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid domain for Message-ID: {domain!r}") from exc
    if not domain or _DOMAIN_INVALID.search(domain):
        raise ValueError(f"invalid domain for Message-ID: {domain!r}")
    return f"{time.time_ns() // 1_000_000}.{secrets.token_urlsafe(18)}@{domain.lower()}"


# How many of the newest References ids a message we write keeps, besides the first one.
REFERENCES_TAIL = 20


def trim_references(ids: Sequence[str], tail: int = REFERENCES_TAIL) -> tuple[str, ...]:
    """A References chain bounded to the first id and the newest `tail` ids, in their order.

    RFC 5322 §3.6.4 builds References by appending, so a hostile thread can make it any length
    (10,000 ids made a 550 KB header; Postfix refuses headers over 100 KB). Trimming follows the
    practice of news and mail clients (RFC 5537 §3.4.4): the first id names the thread's root, the
    last ones its newest messages, with the parent and our own id at the very end; threading
    needs nothing in between.
    """
    if len(ids) <= tail + 1:
        return tuple(ids)
    return (ids[0], *ids[len(ids) - tail :])

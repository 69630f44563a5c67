"""Writing like in a mail client (issue 14 item 6), the pure rules: who a reply-all goes to, the
subject and the quoted header block of a forward, and which composer a draft belongs to.

Reply-all (what Gmail and Outlook do): To is who wrote the email (for an email we sent: its To),
Cc is everyone else who was on it (To and Cc), and our own addresses are never among them — the
user is the sender, not a recipient. Bcc is never copied (its people were hidden on purpose).

A forward is a NEW conversation: it carries the original below a "Forwarded message" block (the
Gmail/Thunderbird layout, which `mime.forwarded` also reads back), never the original's
Message-ID in In-Reply-To or References.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "DraftContext",
    "ReplyAll",
    "draft_context",
    "forward_subject",
    "forwarded_block",
    "reply_all",
]

FORWARD_MARKER = "---------- Forwarded message ---------"
_FWD_PREFIX = re.compile(r"^\s*(?:fwd?|wg|tr|pd|i)\s*:", re.IGNORECASE)


def forward_subject(subject: str | None) -> str:
    """ "Fwd: " once before the original subject (a subject already marked as forwarded keeps it)."""
    subject = (subject or "").strip()
    if not subject:
        return "Fwd:"
    return subject if _FWD_PREFIX.match(subject) else f"Fwd: {subject}"


def _person(person: Mapping[str, str] | None) -> str:
    if not person:
        return ""
    email, name = (person.get("email") or "").strip(), (person.get("name") or "").strip()
    return f"{name} <{email}>" if name and email else email or name


def _people(people: Iterable[Mapping[str, str]]) -> str:
    return ", ".join(p for p in (_person(x) for x in people) if p)


def forwarded_block(
    sender: Mapping[str, str],
    date: str,
    subject: str,
    to: Sequence[Mapping[str, str]],
    cc: Sequence[Mapping[str, str]],
    text: str,
) -> str:
    """The original as mail clients quote it under a forward: marker, header lines, blank, body."""
    lines = [FORWARD_MARKER, f"From: {_person(sender)}"]
    if date:
        lines.append(f"Date: {date}")
    lines.append(f"Subject: {subject}")
    if to:
        lines.append(f"To: {_people(to)}")
    if cc:
        lines.append(f"Cc: {_people(cc)}")
    return "\n".join(lines) + "\n\n" + text.replace("\r\n", "\n").rstrip("\n") + "\n"


@dataclass(frozen=True)
class ReplyAll:
    to: tuple[dict[str, str], ...]
    cc: tuple[dict[str, str], ...]


def reply_all(
    direction: str,
    sender: Mapping[str, str],
    to: Sequence[Mapping[str, str]],
    cc: Sequence[Mapping[str, str]],
    own: Iterable[str],
) -> ReplyAll:
    """Recipients of a reply-all (see the module docstring): each address once, lower-cased for the
    comparison, our own addresses left out."""
    mine = {a.strip().lower() for a in own if a.strip()}
    seen: set[str] = set(mine)

    def keep(people: Iterable[Mapping[str, str]]) -> tuple[dict[str, str], ...]:
        kept = []
        for person in people:
            email = (person.get("email") or "").strip()
            if email and email.lower() not in seen:
                seen.add(email.lower())
                kept.append({"email": email, "name": (person.get("name") or "").strip()})
        return tuple(kept)

    first = [sender] if direction == "inbound" else list(to)
    rest = [*to, *cc] if direction == "inbound" else list(cc)
    main = keep(first)
    copies = keep(rest)
    if not main and copies:  # we wrote to ourselves, others in Cc: the first of them answers
        main, copies = copies[:1], copies[1:]
    return ReplyAll(to=main, cc=copies)


@dataclass(frozen=True)
class DraftContext:
    kind: str  # "new" | "reply" | "forward"
    email_id: int | None

    @property
    def key(self) -> str:
        return self.kind if self.email_id is None else f"{self.kind}:{self.email_id}"


_CONTEXT = re.compile(r"^(reply|forward):([1-9][0-9]{0,17})$")


def draft_context(raw: str | None) -> DraftContext | None:
    """ "new", "reply:<id>" or "forward:<id>" → DraftContext; anything else → None."""
    raw = (raw or "").strip()
    if raw == "new":
        return DraftContext("new", None)
    match = _CONTEXT.match(raw)
    if match is None:
        return None
    return DraftContext(match.group(1), int(match.group(2)))

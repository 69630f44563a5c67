"""Find the original message inside the text of a forward (pure: text in, `ForwardedOriginal` out).

Mail clients that forward "inline" write the original's headers as plain text under a marker line:

* Gmail / Thunderbird: ``---------- Forwarded message ---------`` then From, Date, Subject, To, Cc.
* Outlook: ``-----Original Message-----`` or a line of underscores, then From, Sent, To, Cc, Subject.
* Apple Mail: ``Begin forwarded message:``, a blank line, then From, Subject, Date, To (often quoted
  with ``> `` in the plain-text part).

The first (outermost) marker followed by a header block with a usable From address wins; the text
above it is the forwarder's own note and is not part of the original. Dates in these blocks are
written for humans, usually without a zone: `date` is then naive and the caller decides which zone
the forwarder's client meant (see `services.mail.bcc_logging`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from inboxlink.domain.models import Address

__all__ = ["ForwardedOriginal", "parse_forwarded", "parse_loose_date"]


@dataclass(frozen=True)
class ForwardedOriginal:
    sender: Address
    subject: str
    date: datetime | None  # naive when the block gave no zone
    date_text: str
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    text: str
    style: str  # "gmail" | "outlook" | "apple": which marker was found


# (style, marker line). Checked per line, so a marker quoted in the middle of a sentence never counts.
_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gmail", re.compile(r"-{2,}\s*(?:Forwarded message|Forwarded Message)\s*-{2,}", re.IGNORECASE)),
    ("outlook", re.compile(r"-{2,}\s*Original Message\s*-{2,}", re.IGNORECASE)),
    ("outlook", re.compile(r"_{10,}")),
    ("apple", re.compile(r"Begin forwarded message:", re.IGNORECASE)),
)
# Header labels of the text block, folded to the field they mean.
_LABELS = {"from": "from", "date": "date", "sent": "date", "subject": "subject", "to": "to", "cc": "cc"}
_HEADER = re.compile(r"^\s*\*?(From|Date|Sent|Subject|To|Cc|Reply-To)\*?:\s*(.*)$", re.IGNORECASE)
_QUOTE = re.compile(r"^>[ ]?")
_ADDRESS = re.compile(r"[^\s<>\[\]()\"',;:]+@[^\s<>\[\]()\"',;:]+\.[^\s<>\[\]()\"',;:]+")
_MAX_HEADER_LINES = 30  # a real block has a handful; beyond that it is prose that happens to match


def parse_forwarded(text: str) -> ForwardedOriginal | None:
    """The original message of the first inline forward block in `text`, or None."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index, line in enumerate(lines):
        bare = _QUOTE.sub("", line.strip()).strip()
        for style, marker in _MARKERS:
            if marker.fullmatch(bare):
                found = _block(lines[index + 1 :], style)
                if found is not None:
                    return found
    return None


def _unquote(lines: list[str]) -> list[str]:
    """Drop one level of ``>`` quoting when the block is quoted (Apple Mail's plain-text forwards)."""
    first = next((line for line in lines if line.strip()), "")
    if not first.lstrip().startswith(">"):
        return lines
    return [_QUOTE.sub("", line.lstrip()) for line in lines]


def _block(lines: list[str], style: str) -> ForwardedOriginal | None:
    lines = _unquote(lines)
    fields: dict[str, str] = {}
    last: str | None = None
    body_start = len(lines)
    for i, line in enumerate(lines[:_MAX_HEADER_LINES]):
        match = _HEADER.match(line)
        if match:
            last = _LABELS.get(match.group(1).lower())
            if last is not None and last not in fields:
                fields[last] = match.group(2).strip()
            continue
        if not line.strip():
            # Blank lines before the block and (HTML-rendered) between its lines are not its end; the
            # first blank line after Subject, or after enough fields, is.
            if fields and ("subject" in fields or len(fields) >= 3) and not _next_is_header(lines, i):
                body_start = i + 1
                break
            continue
        if not fields:
            return None  # the marker is not followed by a header block
        if last in ("to", "cc") and (line[:1] in " \t" or "@" in line):
            fields[last] = f"{fields[last]} {line.strip()}"  # a folded To/Cc list
            continue
        body_start = i  # a block without a blank line before the body
        break
    sender = _addresses(fields.get("from", ""))
    if not sender:
        return None
    date_text = fields.get("date", "")
    return ForwardedOriginal(
        sender=sender[0],
        subject=fields.get("subject", ""),
        date=parse_loose_date(date_text),
        date_text=date_text,
        to=_addresses(fields.get("to", "")),
        cc=_addresses(fields.get("cc", "")),
        text="\n".join(lines[body_start:]).strip("\n").rstrip(),
        style=style,
    )


def _next_is_header(lines: list[str], index: int) -> bool:
    for line in lines[index + 1 : index + 3]:
        if line.strip():
            return bool(_HEADER.match(line))
    return False


def _addresses(value: str) -> tuple[Address, ...]:
    """Addresses of a human-written list: `Name <a@x>`, `"Last, First" <a@x>`, `Name [mailto:a@x]`,
    bare `a@x`, separated by commas or semicolons (Outlook)."""
    value = re.sub(r"mailto:", "", value, flags=re.IGNORECASE)
    found: list[Address] = []
    start = 0
    for match in _ADDRESS.finditer(value):
        email = match.group(0).strip(".")
        name = value[start : match.start()].strip(" \t<[(*,;>]").strip("\"'* ")
        start = match.end()
        if name.lower() == email.lower():
            name = ""
        if not any(a.email.lower() == email.lower() for a in found):
            found.append(Address(email=email, name=name))
    return tuple(found)


_MONTH_NAMES = "jan/january feb/february mar/march apr/april may jun/june jul/july aug/august sep/sept/september oct/october nov/november dec/december"
_MONTHS = {name: i + 1 for i, names in enumerate(_MONTH_NAMES.split()) for name in names.split("/")}
_ZONES = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "BST": 60, "IST": 60, "CET": 60, "WEST": 60,
          "CEST": 120, "EET": 120, "EEST": 180, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300,
          "MST": -420, "MDT": -360, "PST": -480, "PDT": -420}  # fmt: skip
_HUMAN_DATE = re.compile(
    r"^(?:[A-Za-z]+\.?,?\s+)?"  # weekday
    r"(?:(?P<d1>\d{1,2})(?:st|nd|rd|th)?\.?\s+(?P<m1>[A-Za-z]+)\.?|(?P<m2>[A-Za-z]+)\.?\s+(?P<d2>\d{1,2})(?:st|nd|rd|th)?)"
    r",?\s+(?P<y>\d{4}),?\s+(?:at\s+)?"
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?"
    r"\s*(?P<tz>.*)$"
)
_OFFSET = re.compile(r"^\(?(?:(?:GMT|UTC)\s*)?(?P<sign>[+-])(?P<h>\d{1,2}):?(?P<m>\d{2})?\)?$")


def parse_loose_date(text: str) -> datetime | None:
    """A date as mail clients print it for people (or RFC 5322), else None. Naive without a zone."""
    text = " ".join(text.split())
    match = _HUMAN_DATE.match(text)
    if match is None:
        # Last resort for other RFC 5322-ish forms; tried second because it ignores AM/PM.
        try:
            return parsedate_to_datetime(text) if text else None
        except (TypeError, ValueError, IndexError):
            return None
    month = _MONTHS.get((match.group("m1") or match.group("m2")).lower())
    if month is None:
        return None
    hour = int(match.group("H"))
    ampm = (match.group("ampm") or "").replace(".", "").lower()
    if ampm:
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    try:
        naive = datetime(
            int(match.group("y")),
            month,
            int(match.group("d1") or match.group("d2")),
            hour,
            int(match.group("M")),
            int(match.group("S") or 0),
        )
    except ValueError:
        return None
    zone = _zone(match.group("tz").strip())
    return naive if zone is None else naive.replace(tzinfo=zone)


def _zone(text: str) -> timezone | None:
    text = text.strip("() ")
    if not text:
        return None
    if text.upper() in _ZONES:
        return timezone(timedelta(minutes=_ZONES[text.upper()]))
    match = _OFFSET.match(text)
    if match is None:
        return None
    minutes = int(match.group("h")) * 60 + int(match.group("m") or 0)
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=-minutes if match.group("sign") == "-" else minutes))

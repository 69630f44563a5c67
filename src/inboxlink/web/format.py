"""Turning API-shaped dicts into words and markup for the templates (pure functions)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from inboxlink.domain.writing import reply_all
from inboxlink.mime.sanitize import REMOTE_SRC_ATTRIBUTE

# Inside the email's own document: nothing loads but inline images until the user asks
# (the "Load remote images" button widens img-src and renames data-remote-src back to src).
FRAME_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
FRAME_STYLE = (
    "html{color-scheme:light}body{margin:0;padding:14px 16px;color:#1f2430;background:#fff;"
    "font:14px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}"
    "blockquote{margin:0 0 0 .5em;padding-left:.8em;border-left:3px solid #d9dde5;color:#5b6170}"
    "a{color:#3654d1}"
)


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str) and value:
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """Absolute UTC time; app.js rewrites it to the reader's local time."""
    stamp = _parse(value)
    return stamp.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC") if stamp else "—"


def ago(value: Any) -> str:
    stamp = _parse(value)
    if stamp is None:
        return "never"
    seconds = (datetime.now(UTC) - stamp).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "in a few seconds" if future else "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            text = f"{n} {unit}{'' if n == 1 else 's'}"
            return f"in {text}" if future else f"{text} ago"
    return "in a minute" if future else "a minute ago"


def file_size(size: Any) -> str:
    n = int(size or 0)
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{math.ceil(n / 1024)} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def person(addr: Any) -> str:
    if not isinstance(addr, dict):
        return ""
    name, email = (addr.get("name") or "").strip(), addr.get("email") or ""
    return f"{name} <{email}>" if name else email


PEOPLE_SHOWN = 20  # a hostile Cc can name 40,000; the email's own record keeps them all


def people(addrs: Any) -> str:
    listed = list(addrs or [])
    shown = ", ".join(person(a) for a in listed[:PEOPLE_SHOWN])
    more = len(listed) - PEOPLE_SHOWN
    return f"{shown} and {more:,} more" if more > 0 else shown


_SPECIALS = re.compile(r'[,;:"<>()@\[\]\\]')
_RE_PREFIX = re.compile(r"^\s*re\s*(?:\[\d+\])?\s*:", re.I)


def address_line(addr: Any) -> str:
    """An address as typed in the composer's To field (quoted where a comma would split it)."""
    if not isinstance(addr, dict) or not addr.get("email"):
        return ""
    name = (addr.get("name") or "").strip()
    if name and _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr['email']}>" if name else str(addr["email"])


def reply_subject(subject: Any) -> str:
    """Prefix "Re: " once: "Offer" → "Re: Offer"; "RE: Offer" stays as it is."""
    text = str(subject or "").strip()
    return text if _RE_PREFIX.match(text) else f"Re: {text}".strip()


def reply_target(email: dict[str, Any]) -> dict[str, str]:
    """What answering `email` pre-fills: its sender (an outbound email: its first recipient), the
    subject, and words naming it ("Chris Client: Re: Offer")."""
    if email.get("direction") == "inbound":
        addr = email.get("from")
    else:
        addr = next(iter(email.get("to") or []), None)
    who = (addr.get("name") or addr.get("email")) if isinstance(addr, dict) else ""
    subject = str(email.get("subject") or "").strip() or "(no subject)"
    return {
        "to": address_line(addr),
        "subject": reply_subject(email.get("subject")),
        "label": f"{who}: {subject}" if who else subject,
    }


def reply_all_target(email: dict[str, Any], own: Sequence[str]) -> dict[str, str]:
    """Reply all's To and Cc lines: everyone on `email` except the caller (domain.writing)."""
    sender = email.get("from")
    found = reply_all(
        str(email.get("direction") or ""),
        sender if isinstance(sender, dict) else {},
        [p for p in email.get("to") or [] if isinstance(p, dict)],
        [p for p in email.get("cc") or [] if isinstance(p, dict)],
        own,
    )
    return {
        "to": ", ".join(address_line(p) for p in found.to),
        "cc": ", ".join(address_line(p) for p in found.cc),
    }


def initials(contact: dict[str, Any]) -> str:
    words = [w for w in re.split(r"[\s.@_-]+", contact.get("name") or contact.get("email") or "") if w]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def email_status(email: dict[str, Any]) -> dict[str, str]:
    """State, a short label and a sentence, for the timeline badge and the composer."""
    status = str(email.get("status"))
    error = email.get("error") if isinstance(email.get("error"), dict) else None
    if status == "queued":
        detail = "Waiting to go out through your mail server…"
        if error:
            detail = f"Your mail server did not take it yet; trying again shortly. ({error.get('message')})"
        return {"state": "queued", "label": "Queued", "detail": detail}
    if status == "sent":
        folder = email.get("sent_folder_copy")
        if folder:
            detail = f"Sent. A copy was saved in your “{folder}” folder."
        elif error and error.get("code") == "sent_copy_failed":
            detail = f"{error.get('message')}."  # the folder exists; the server's words say why
        else:
            detail = "Sent. No copy was added to a Sent folder (none was found in the mailbox)."
        return {"state": "sent", "label": "Sent", "detail": detail}
    if status == "scheduled":
        detail = f"Scheduled to go out at {when(email.get('send_at'))}; it can be cancelled until then."
        if error:
            detail = str(error.get("message"))  # e.g. waiting for a disconnected inbox
        return {"state": "scheduled", "label": "Scheduled", "detail": detail}
    if status == "cancelled":
        detail = (
            str(error.get("message")) if error else "Cancelled before it was sent."
        )  # e.g. forgotten recipient
        return {"state": "cancelled", "label": "Cancelled", "detail": detail}
    if status == "failed":
        message = error.get("message") if error else "the mail server did not accept it"
        return {"state": "failed", "label": "Not sent", "detail": f"Not sent: {message}"}
    if status == "bounced":
        message = error.get("message") if error else "the recipient's server returned it"
        return {"state": "failed", "label": "Bounced", "detail": f"Bounced: {message}"}
    return {"state": "logged", "label": "Logged", "detail": ""}


def srcdoc(html: str) -> str:
    """The whole document for `<iframe sandbox srcdoc>`; `html` was sanitized when it was stored."""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{FRAME_CSP}">'
        '<meta name="referrer" content="no-referrer"><base target="_blank">'
        f"<style>{FRAME_STYLE}</style></head><body>{html}</body></html>"
    )


def has_remote_images(html: str | None) -> bool:
    return bool(html) and f' {REMOTE_SRC_ATTRIBUTE}="' in (html or "")


FRAME_SCAN_LIMIT = 200_000


def frame_height(email: dict[str, Any]) -> int:
    """A sandboxed frame without scripts cannot report its height: estimate it from the HTML's
    text and blocks (the reader can still drag the frame taller)."""
    # Bounded input and bounded repeats: a hostile body must not make these regexes backtrack for
    # long (they run on every view of the record, on the shared event loop).
    html = str(email.get("html") or "")[:FRAME_SCAN_LIMIT]
    flowed = re.sub(r"<(?:br|/p|/div|/tr|/li|/h[1-6]|/blockquote)\b[^<>]{0,2000}>", "\n", html, flags=re.I)
    text = re.sub(r"<[^<>]{0,4000}>", "", flowed).strip()
    lines = sum(max(1, math.ceil(len(line) / 85)) for line in text.splitlines() or [""])
    paragraphs = len(re.findall(r"<p\b", html, flags=re.I))
    # Images with a real size and not a 1x1 pixel: room for a modest picture each.
    images = len(
        re.findall(
            r'<img\b(?![^<>]{0,2000}\b(?:width|height)="[01]")[^<>]{0,2000}(?:src|data-remote-src)="', html
        )
    )
    return max(90, min(640, round(48 + lines * 23 + paragraphs * 16 + images * 90)))

"""Out-of-office and other automatic replies: recognised so that they are shown for what they are
and, by default, do not count as the contact answering (a sequence keeps going).

The headers say it first: RFC 3834 `Auto-Submitted` (anything but `no`), then the de-facto ones
— `X-Autoreply`, `X-Autorespond`, `X-Autoresponse`, `Precedence: auto_reply` (and `bulk`/`junk`
from vacation programs), Microsoft's `X-MS-Exchange-Inbox-Rules-Loop` and
`X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent`, `X-Auto-Response-Suppress` is *not*
a sign (Outlook puts it on ordinary mail). Without any of them, the subject decides: the prefixes
that Exchange, Gmail, Apple Mail and Thunderbird's vacation responders use in English, German,
French, Spanish, Polish, Italian, Dutch and Portuguese. Pure and table-driven."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["AUTO_SUBJECTS", "auto_reply_reason"]

_HEADER_SIGNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("auto-submitted", re.compile(r"^\s*(?!no\b)\S", re.IGNORECASE)),
    ("x-autoreply", re.compile(r"\S")),
    ("x-autorespond", re.compile(r"\S")),
    ("x-autoresponse", re.compile(r"\S")),
    ("precedence", re.compile(r"^\s*auto[_-]?reply\b", re.IGNORECASE)),
    ("x-ms-exchange-inbox-rules-loop", re.compile(r"\S")),
    ("x-ms-exchange-generated-message-source", re.compile(r"rules agent|auto", re.IGNORECASE)),
)

AUTO_SUBJECTS: tuple[str, ...] = (
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto-reply",
    "auto response",
    "autoresponse",
    "away from the office",
    "vacation reply",
    "on vacation",
    "abwesenheitsnotiz",
    "automatische antwort",
    "abwesend",
    "außer haus",
    "réponse automatique",
    "absence du bureau",
    "absent du bureau",
    "autoodpowiedź",
    "automatyczna odpowiedź",
    "poza biurem",
    "respuesta automática",
    "fuera de la oficina",
    "risposta automatica",
    "fuori ufficio",
    "automatisch antwoord",
    "afwezig",
    "resposta automática",
    "ausência temporária",
)
_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv|tr|wg|fw|fwd|odp|r)\s*:\s*)*(?:" + "|".join(map(re.escape, AUTO_SUBJECTS)) + r")\b",
    re.IGNORECASE,
)


def auto_reply_reason(headers: Mapping[str, str], subject: str) -> str | None:
    """Why this message is an automatic reply (the header or subject that says so), or None.
    `headers` keys are lower-case field names."""
    for name, sign in _HEADER_SIGNS:
        value = headers.get(name)
        if value is not None and sign.search(value):
            return f"{name}: {value.strip()[:60]}"
    if _SUBJECT.search(subject or ""):
        return f"subject: {subject.strip()[:60]}"
    return None

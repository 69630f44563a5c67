r"""Which mailbox holds the user's sent mail.

Order of trust:
1. a selectable mailbox with the RFC 6154 `\Sent` special-use attribute (the server knows);
2. else a mailbox with one of the provider's own Sent names (`preferred`, from domain.providers:
   iCloud's "Sent Messages" beats a stray "Sent" another app created beside it);
3. else a selectable mailbox whose *last hierarchy level* is named like a Sent folder — English or
   one of the usual localized names, compared case- and accent-insensitively. Shallower mailboxes
   win, then listing order, so `Sent` beats `Archive/Sent 2019`;
4. else None (the caller then skips APPEND instead of guessing).

Names are matched by whole words, not substrings: "Sent Items", "[Gmail]/Sent Mail" and "INBOX.Sent"
match, while "Unsent", "Consent forms" or "Presentations" do not. Mailbox names are expected already
decoded from IMAP modified UTF-7.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["choose_sent_folder", "looks_like_sent"]

_UNSELECTABLE = frozenset({"\\noselect", "\\nonexistent"})

# Whole words that name a Sent folder on their own or with a companion word ("Sent Items",
# "Gesendete Elemente", "Éléments envoyés", "Posta inviata", "Skickade objekt").
_WORD_LIST = (
    "sent", "sentitems", "sentmail", "sentmessages",  # English, incl. unspaced variants
    "gesendet", "gesendete",  # German
    "envoyés", "envoyé", "envoyées",  # French
    "wysłane",  # Polish
    "enviados", "enviadas", "enviado", "enviats",  # Spanish, Portuguese, Catalan
    "inviati", "inviata", "inviate",  # Italian
    "verzonden", "verstuurd", "verstuurde",  # Dutch
    "skickat", "skickade",  # Swedish
    "sendt", "sendte",  # Danish, Norwegian
    "lähetetyt",  # Finnish
    "odeslané", "odeslaná", "odoslané", "odoslaná",  # Czech, Slovak
    "elküldött",  # Hungarian
    "trimise",  # Romanian
    "gönderilmiş", "gönderilenler",  # Turkish
    "poslano", "poslana", "poslane",  # Slovenian, Croatian
    "saadetud",  # Estonian
    "απεσταλμένα",  # Greek
    "отправленные",  # Russian
    "надіслані",  # Ukrainian
    "изпратени",  # Bulgarian
)  # fmt: skip

# Scripts written without spaces are matched as substrings.
_FRAGMENT_LIST = ("送信済み", "已发送", "已傳送", "寄件備份", "寄件备份", "보낸")

# Letters that NFKD does not split into base + accent.
_EXTRA_FOLD = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ı": "i", "ħ": "h", "æ": "ae", "œ": "oe"})

_HIERARCHY = re.compile(r"[/.\\]")
_WORD = re.compile(r"\w+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped).translate(_EXTRA_FOLD)


# Fold the tables the same way as the names, so they can be written the way people spell them.
_WORDS = frozenset(_fold(word) for word in _WORD_LIST)
_FRAGMENTS = tuple(_fold(fragment) for fragment in _FRAGMENT_LIST)


def looks_like_sent(name: str) -> bool:
    """True when the last hierarchy level of `name` is named like a Sent folder."""
    leaf = _fold(_HIERARCHY.split(name)[-1])
    if any(fragment in leaf for fragment in _FRAGMENTS):
        return True
    return any(word in _WORDS for word in _WORD.findall(leaf))


def _holds_all(flags: frozenset[str]) -> bool:
    return any(flag.lower() == "\\all" for flag in flags)


def _selectable(flags: frozenset[str]) -> bool:
    return not any(flag.lower() in _UNSELECTABLE for flag in flags)


def choose_sent_folder(
    mailboxes: Sequence[tuple[str, frozenset[str]]], preferred: Sequence[str] = ()
) -> str | None:
    """The Sent mailbox from a LIST result of `(name, attributes)` pairs, or None. A mailbox marked
    \\All (every message again, Gmail's All Mail) is never taken for Sent by its name."""
    for name, flags in mailboxes:
        if _selectable(flags) and any(flag.lower() == "\\sent" for flag in flags):
            return name
    usable = [(name, flags) for name, flags in mailboxes if _selectable(flags) and not _holds_all(flags)]
    for wanted in preferred:
        for name, _ in usable:
            if name.casefold() == wanted.casefold():
                return name
    best: tuple[int, int, str] | None = None
    for index, (name, _) in enumerate(usable):
        if looks_like_sent(name):
            rank = (len(_HIERARCHY.findall(name)), index, name)
            if best is None or rank < best:
                best = rank
    return None if best is None else best[2]

"""Where a plain-text reply's own words end and the quoted history begins, so a record shows the new
text and folds the rest behind "…" (and a snippet is the reply, not the quote). Mail clients mark the
history with an attribution line ("On Tue, Ann wrote:", Polish/German/French variants, Outlook's
"-----Original Message-----") or with ">" on every remaining line."""

from __future__ import annotations

import re

ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"On\b.{0,300}\bwrote:"
    r"|Le\b.{0,300}\ba écrit\s?:"
    r"|Am\b.{0,300}\bschrieb\b.{0,200}:"
    r"|W dniu\b.{0,300}\bnapisał(?:\(a\)|a)?\s?:"
    r"|-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Wiadomość oryginalna)\s*-{2,}"
    r")\s*$",
    re.IGNORECASE,
)


def split_quoted(text: str) -> tuple[str, str]:
    """(the reply's own text, the quoted history) — the second empty when nothing is quoted. A quote
    counts only when nothing but quoted or blank lines follows it (a ">" inside the reply stays)."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        rest = lines[index + 1 :]
        if ATTRIBUTION.match(line) or (
            line.lstrip().startswith(">") and all(not r.strip() or r.lstrip().startswith(">") for r in rest)
        ):
            fresh = "".join(lines[:index]).rstrip()
            if fresh:  # a message that is all quote shows as it is
                return fresh, "".join(lines[index:])
            return text, ""
    return text, ""


def snippet(text: str, limit: int = 160) -> str:
    """The reply's own words on one line, cut at `limit` characters."""
    own = " ".join(split_quoted(text)[0].split())
    return own if len(own) <= limit else own[: limit - 1].rstrip() + "…"

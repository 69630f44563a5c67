"""A To/Cc line as a person types it, cut into its entries ('Ann <a@x.test>, "Lee, Bo" <b@y.test>'),
so an error can name the entry that is wrong instead of a parser's fragment of it."""

from __future__ import annotations


def split_recipients(raw: str) -> list[str]:
    """The comma- or semicolon-separated entries of `raw`, trimmed, empty ones dropped; separators
    inside "quotes" or <angle brackets> do not split."""
    entries: list[str] = []
    current: list[str] = []
    quoted = angle = False
    for char in raw:
        if char == '"' and not angle:
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        elif char in ",;" and not quoted and not angle:
            entries.append("".join(current))
            current = []
            continue
        current.append(char)
    entries.append("".join(current))
    return [e.strip() for e in entries if e.strip()]

"""Text helpers for `parse`: charset decoding that never fails, format=flowed, HTML → plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["clean_str", "decode_text", "html_to_text", "unflow"]

# Labels mail clients use that Python's codec registry does not know (or knows as a subset).
_CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "unicode-1-1-utf-7": "utf-7",
    "gb2312": "gb18030",  # senders label GBK/GB18030 text as GB2312 all the time
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "cp932",
    "ansi_x3.4-1968": "ascii",
}


def decode_text(payload: bytes, charset: str | None) -> tuple[str, str | None]:
    """`payload` decoded as `charset`, with line endings made `\\n`, plus a problem note or None.

    Unknown charset → UTF-8 if the bytes are valid UTF-8, else Latin-1 (which maps every byte, so the
    text stays readable-ish instead of vanishing). Known charset with bad bytes → UTF-8 if valid,
    else the declared charset with U+FFFD replacements.
    """
    label = (charset or "us-ascii").strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    problem: str | None
    try:
        text = payload.decode(label)
        problem = None
    except LookupError:  # also raised for non-text codecs such as "rot13" or "zlib"
        problem = f"unknown charset {label!r}"
        text = _utf8_or(payload, "latin-1")
    except UnicodeDecodeError:
        problem = f"bytes not valid in charset {label!r}"
        text = _utf8_or(payload, label)
    return text.replace("\r\n", "\n").replace("\r", "\n"), problem


def clean_str(value: str) -> str:
    """Make a decoded header/body string storable: no NUL (PostgreSQL rejects it in text) and no lone
    surrogates (the email parser keeps undeclared 8-bit header bytes as surrogates)."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        # Undeclared 8-bit headers are UTF-8 in practice (RFC 6532), else legacy Latin-1.
        value = _utf8_or(value.encode("utf-8", "surrogateescape"), "latin-1")
    return value.replace("\x00", "")


def _utf8_or(payload: bytes, fallback: str) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode(fallback, "replace")


def unflow(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed soft line breaks (Apple Mail, Thunderbird) so paragraphs are one line."""
    out: list[str] = []
    buffer: str | None = None
    buffer_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if buffer is not None and depth == buffer_depth:
            buffer += content
        else:
            if buffer is not None:
                out.append(_quoted(buffer, buffer_depth))
            buffer, buffer_depth = content, depth
        if not flowed:
            out.append(_quoted(buffer, buffer_depth))
            buffer = None
    if buffer is not None:
        out.append(_quoted(buffer, buffer_depth))
    return "\n".join(out)


def _quoted(content: str, depth: int) -> str:
    return f"{'>' * depth} {content}" if depth else content


_BLOCK = frozenset(
    "address article aside blockquote dd div dl dt fieldset figcaption figure footer form h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section table tr ul".split()
)
_PARAGRAPH = frozenset({"p", "blockquote", "table", "ul", "ol", "pre"})  # get a blank line around
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    """Collects text; block boundaries become *pending* line breaks, so nested blocks (`<li><p>`)
    give one break instead of a pile of empty lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive unescaped in handle_data
        self.parts: list[str] = []
        self.pending = 0
        self.skip_depth = 0
        self.pre_depth = 0
        self.bullet = False  # a list item started, its "- " waits for the item's first text

    def _block(self, newlines: int) -> None:
        if not self.bullet:  # <li><p>x</p></li> is one list line, not a paragraph
            self.pending = max(self.pending, newlines)

    def _emit(self, text: str) -> None:
        if self.pending and self.parts:
            self.parts.append("\n" * self.pending)
        self.pending = 0
        if self.bullet:
            self.parts.append("- ")
            self.bullet = False
        self.parts.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag == "br":
            self._emit("\n")
        elif tag in _BLOCK:
            self._block(2 if tag in _PARAGRAPH else 1)
            if tag == "li":
                self.bullet = True
            elif tag == "pre":
                self.pre_depth += 1
        elif tag in {"td", "th"}:
            self._emit("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self._block(2 if tag in _PARAGRAPH else 1)
            if tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            self._emit(data)
            return
        # Source whitespace is layout, not content (outside <pre>); whitespace between blocks must not
        # turn a pending break into an extra blank line.
        text = _SPACES.sub(" ", data.replace("\xa0", " "))
        if text.strip():
            self._emit(text)
        elif self.parts and not self.pending:
            self.parts.append(" ")


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: tags dropped, paragraphs and line breaks kept, entities unescaped."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except (AssertionError, ValueError):  # old HTMLParser bugs on malformed markup; keep what we have
        pass
    lines = [line.strip() for line in "".join(extractor.parts).split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines))
    return text.strip("\n") + "\n" if text.strip() else ""
